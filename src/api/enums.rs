//! Proto enums stored as readable text (`INSTAGRAM`, not `2`), so the
//! database and the BI views stay legible and renumbering can never corrupt
//! data.

use crate::pb;

/// A generated proto enum whose values share a prefix (`NETWORK_`).
pub trait ProtoEnum: Sized + Copy + 'static {
    /// The prefix every value name starts with, such as `NETWORK_`.
    const PREFIX: &'static str;
    /// The value's proto name, such as `NETWORK_INSTAGRAM`.
    fn proto_name(self) -> &'static str;
    /// The value with this proto name.
    fn from_proto_name(name: &str) -> Option<Self>;
    /// The value with this number.
    fn from_number(number: i32) -> Option<Self>;

    /// The stored form: the name without its prefix, such as `INSTAGRAM`.
    fn db_name(self) -> &'static str {
        let name = self.proto_name();
        name.strip_prefix(Self::PREFIX).unwrap_or(name)
    }

    /// The value stored as `text`; `None` for anything unknown.
    fn from_db_name(text: &str) -> Option<Self> {
        Self::from_proto_name(&format!("{}{text}", Self::PREFIX))
    }

    /// Every value but `*_UNSPECIFIED`, in number order (our enums are dense).
    fn specified_values() -> Vec<Self> {
        (1..).map_while(Self::from_number).collect()
    }
}

macro_rules! proto_enum {
    ($type:ty, $prefix:literal) => {
        impl ProtoEnum for $type {
            const PREFIX: &'static str = $prefix;
            fn proto_name(self) -> &'static str {
                self.as_str_name()
            }
            fn from_proto_name(name: &str) -> Option<Self> {
                Self::from_str_name(name)
            }
            fn from_number(number: i32) -> Option<Self> {
                Self::try_from(number).ok()
            }
        }
    };
}

proto_enum!(pb::account::Network, "NETWORK_");
proto_enum!(pb::account::Status, "STATUS_");
proto_enum!(pb::audit::State, "STATE_");
proto_enum!(pb::audit_entry::Assessment, "ASSESSMENT_");
proto_enum!(pb::finding::Kind, "KIND_");
proto_enum!(pb::metric_definition::Kind, "KIND_");
proto_enum!(pb::metric_definition::Aggregation, "AGGREGATION_");
proto_enum!(pb::metric_definition::Better, "BETTER_");
proto_enum!(pb::Interval, "INTERVAL_");

/// Reads a stored enum, treating an unknown text as a schema bug.
pub fn from_db<E: ProtoEnum>(text: &str) -> Result<E, crate::error::ApiError> {
    E::from_db_name(text).ok_or_else(|| {
        crate::error::ApiError::internal(format!(
            "stored value {text:?} is not a {}* enum value",
            E::PREFIX
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb::account::Network;

    #[test]
    fn stored_names_drop_the_prefix_and_read_back() {
        assert_eq!(Network::Instagram.db_name(), "INSTAGRAM");
        assert_eq!(Network::from_db_name("INSTAGRAM"), Some(Network::Instagram));
        assert_eq!(Network::from_db_name("MYSPACE"), None);
    }

    #[test]
    fn specified_values_skip_unspecified_and_cover_the_enum() {
        let values = Network::specified_values();
        assert_eq!(values.first(), Some(&Network::Facebook));
        assert_eq!(values.last(), Some(&Network::Other));
        assert_eq!(values.len(), 11);
    }
}
