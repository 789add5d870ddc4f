//! AIP-122 resource names: `accounts/{account}` and friends, where the id is a
//! server-assigned UUIDv7.

use uuid::Uuid;

use crate::error::{ApiError, ResourceKind};

/// A top-level collection of resources identified by UUIDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Collection {
    /// The collection segment, such as `accounts`.
    pub segment: &'static str,
    /// The name pattern shown in errors, such as `accounts/{account}`.
    pub pattern: &'static str,
    /// The resource kind, for NOT_FOUND errors.
    pub kind: ResourceKind,
}

/// `accounts/{account}`.
pub const ACCOUNTS: Collection = Collection {
    segment: "accounts",
    pattern: "accounts/{account}",
    kind: ResourceKind::Account,
};

/// `audits/{audit}`.
pub const AUDITS: Collection = Collection {
    segment: "audits",
    pattern: "audits/{audit}",
    kind: ResourceKind::Audit,
};

impl Collection {
    /// The name of the resource with this id.
    pub fn name(&self, id: Uuid) -> String {
        format!("{}/{}", self.segment, id)
    }

    /// The id in a well-formed name of this collection, without allocating
    /// (bulk writes call this once per row).
    pub fn id_of(&self, value: &str) -> Option<Uuid> {
        let text = value.strip_prefix(self.segment)?.strip_prefix('/')?;
        let id = Uuid::try_parse(text).ok()?;
        // Only the canonical lowercase hyphenated form names a resource, so
        // one resource never answers to two names.
        let mut canonical = Uuid::encode_buffer();
        (id.hyphenated().encode_lower(&mut canonical) == text).then_some(id)
    }

    /// Parses a name of this collection, reporting problems against `field`.
    pub fn parse(&self, field: &str, value: &str) -> Result<Uuid, ApiError> {
        if value.is_empty() {
            return Err(ApiError::invalid_field(
                field,
                format!("is required, as {}", self.pattern),
            ));
        }
        self.id_of(value).ok_or_else(|| {
            ApiError::invalid_field(
                field,
                format!(
                    "must be a resource name of the form {} where the id is a lowercase UUID, got {value:?}",
                    self.pattern
                ),
            )
        })
    }

    /// NOT_FOUND for the resource with this id.
    pub fn not_found(&self, id: Uuid) -> ApiError {
        ApiError::NotFound {
            kind: self.kind,
            name: self.name(id),
        }
    }
}

/// A new server-assigned id: UUIDv7, so ids sort by creation time.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_round_trips() {
        let id = new_id();
        assert_eq!(ACCOUNTS.parse("name", &ACCOUNTS.name(id)).unwrap(), id);
    }

    #[test]
    fn malformed_names_are_rejected_with_the_expected_pattern() {
        let id = new_id();
        let cases = [
            ("empty", String::new()),
            ("not a uuid", "accounts/not-a-uuid".to_owned()),
            ("wrong collection", format!("audits/{id}")),
            ("missing slash", format!("accounts{id}")),
            (
                "uppercase uuid",
                format!("accounts/{}", id.to_string().to_uppercase()),
            ),
            ("simple uuid form", format!("accounts/{}", id.simple())),
            ("trailing segment", format!("accounts/{id}/x")),
        ];
        for (description, value) in cases {
            let error = ACCOUNTS.parse("name", &value).unwrap_err();
            let ApiError::InvalidArgument(violations) = error else {
                panic!("{description}: expected INVALID_ARGUMENT");
            };
            assert_eq!(violations[0].field, "name", "{description}");
            assert!(
                violations[0].description.contains("accounts/{account}"),
                "{description}: {}",
                violations[0].description
            );
        }
    }
}
