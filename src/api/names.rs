//! AIP-122 resource names: `accounts/{account}` and friends, where the id is a
//! server-assigned UUIDv7, and the key results nested under goals,
//! `goals/{goal}/keyResults/{key_result}`.

use uuid::Uuid;

use crate::error::{ApiError, ResourceKind};

#[cfg(test)]
mod properties;

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

/// `goals/{goal}`.
pub const GOALS: Collection = Collection {
    segment: "goals",
    pattern: "goals/{goal}",
    kind: ResourceKind::Goal,
};

/// `goals/{goal}/keyResults/{key_result}`.
pub const KEY_RESULTS: ChildCollection = ChildCollection {
    parent: GOALS,
    segment: "keyResults",
    pattern: "goals/{goal}/keyResults/{key_result}",
    kind: ResourceKind::KeyResult,
};

/// A collection of resources nested under one resource of a top-level
/// collection, such as the key results of a goal. A child's name holds both
/// ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildCollection {
    /// The collection of the parents.
    pub parent: Collection,
    /// The collection segment after the parent's name, such as `keyResults`.
    pub segment: &'static str,
    /// The name pattern shown in errors.
    pub pattern: &'static str,
    /// The resource kind, for NOT_FOUND errors.
    pub kind: ResourceKind,
}

impl ChildCollection {
    /// The name of the child `id` of parent `parent_id`.
    pub fn name(&self, parent_id: Uuid, id: Uuid) -> String {
        format!("{}/{}/{}", self.parent.name(parent_id), self.segment, id)
    }

    /// The (parent id, child id) of a well-formed name of this collection.
    pub fn ids_of(&self, value: &str) -> Option<(Uuid, Uuid)> {
        let (parent, rest) = value.split_once(&format!("/{}/", self.segment))?;
        Some((self.parent.id_of(parent)?, canonical_uuid(rest)?))
    }

    /// Parses a name of this collection into (parent id, child id),
    /// reporting problems against `field`.
    pub fn parse(&self, field: &str, value: &str) -> Result<(Uuid, Uuid), ApiError> {
        if value.is_empty() {
            return Err(ApiError::invalid_field(
                field,
                format!("is required, as {}", self.pattern),
            ));
        }
        self.ids_of(value).ok_or_else(|| {
            ApiError::invalid_field(
                field,
                format!(
                    "must be a resource name of the form {} where the ids are lowercase UUIDs, got {value:?}",
                    self.pattern
                ),
            )
        })
    }

    /// NOT_FOUND for the child `id` of parent `parent_id`.
    pub fn not_found(&self, parent_id: Uuid, id: Uuid) -> ApiError {
        ApiError::NotFound {
            kind: self.kind,
            name: self.name(parent_id, id),
        }
    }
}

/// The id written as `text` in the canonical lowercase hyphenated form, the
/// only form that names a resource, so one resource never answers to two
/// names.
fn canonical_uuid(text: &str) -> Option<Uuid> {
    let id = Uuid::try_parse(text).ok()?;
    let mut canonical = Uuid::encode_buffer();
    (id.hyphenated().encode_lower(&mut canonical) == text).then_some(id)
}

impl Collection {
    /// The name of the resource with this id.
    pub fn name(&self, id: Uuid) -> String {
        format!("{}/{}", self.segment, id)
    }

    /// The id in a well-formed name of this collection, without allocating
    /// (bulk writes call this once per row).
    pub fn id_of(&self, value: &str) -> Option<Uuid> {
        canonical_uuid(value.strip_prefix(self.segment)?.strip_prefix('/')?)
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
    fn a_key_result_name_round_trips_into_both_ids() {
        let (goal, key_result) = (new_id(), new_id());
        let name = KEY_RESULTS.name(goal, key_result);
        assert_eq!(name, format!("goals/{goal}/keyResults/{key_result}"));
        assert_eq!(
            KEY_RESULTS.parse("name", &name).unwrap(),
            (goal, key_result)
        );
    }

    #[test]
    fn malformed_key_result_names_are_rejected() {
        let id = new_id();
        let cases = [
            ("empty", String::new()),
            ("goal name only", format!("goals/{id}")),
            ("wrong segment", format!("goals/{id}/keyresults/{id}")),
            ("wrong parent", format!("audits/{id}/keyResults/{id}")),
            (
                "uppercase child",
                format!("goals/{id}/keyResults/{}", id.to_string().to_uppercase()),
            ),
            ("trailing segment", format!("goals/{id}/keyResults/{id}/x")),
        ];
        for (description, value) in cases {
            let error = KEY_RESULTS.parse("name", &value).unwrap_err();
            let ApiError::InvalidArgument(violations) = error else {
                panic!("{description}: expected INVALID_ARGUMENT");
            };
            assert!(
                violations[0]
                    .description
                    .contains("goals/{goal}/keyResults/{key_result}"),
                "{description}"
            );
        }
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
