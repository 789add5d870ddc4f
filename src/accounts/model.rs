//! Validated account fields: once parsed, every value is fit to store.

use crate::api::enums::ProtoEnum;
use crate::api::validate::{self, Lines};
use crate::error::Violations;
use crate::pb;
use crate::pb::account::{Network, Status};

#[cfg(test)]
mod properties;

/// The fields callers may set and update (AIP-134 paths).
pub const UPDATABLE_FIELDS: &[&str] = &[
    "network",
    "handle",
    "profile_url",
    "display_name",
    "owner",
    "purpose",
    "status",
];

/// An account's caller-owned fields, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountFields {
    /// The network.
    pub network: Network,
    /// The handle without a leading `@`.
    pub handle: String,
    /// An http(s) URL or empty.
    pub profile_url: String,
    /// A label or empty.
    pub display_name: String,
    /// The responsible person or team, or empty.
    pub owner: String,
    /// Why the account exists, or empty.
    pub purpose: String,
    /// The account's standing.
    pub status: Status,
}

impl AccountFields {
    /// Validates every field of `account`, reporting violations as
    /// `{prefix}.{field}`. Returns `None` when anything is wrong.
    pub fn parse(violations: &mut Violations, prefix: &str, account: &pb::Account) -> Option<Self> {
        let before = violations.len();
        let field = |name: &str| format!("{prefix}.{name}");
        let network =
            validate::enum_value::<Network>(violations, &field("network"), account.network, true);
        let handle = parse_handle(violations, &field("handle"), &account.handle);
        let profile_url =
            validate::http_url(violations, &field("profile_url"), &account.profile_url);
        let display_name = validate::text(
            violations,
            &field("display_name"),
            &account.display_name,
            200,
            false,
            Lines::Single,
        );
        let owner = validate::text(
            violations,
            &field("owner"),
            &account.owner,
            200,
            false,
            Lines::Single,
        );
        let purpose = validate::text(
            violations,
            &field("purpose"),
            &account.purpose,
            1000,
            false,
            Lines::Multi,
        );
        // An unspecified status means a new account in use.
        let status =
            validate::enum_value::<Status>(violations, &field("status"), account.status, false)
                .or((account.status == 0).then_some(Status::Active));
        if violations.len() != before {
            return None;
        }
        Some(AccountFields {
            network: network?,
            handle,
            profile_url,
            display_name,
            owner,
            purpose,
            status: status?,
        })
    }

    /// The stored network name.
    pub fn network_name(&self) -> &'static str {
        self.network.db_name()
    }

    /// The stored status name.
    pub fn status_name(&self) -> &'static str {
        self.status.db_name()
    }
}

/// Handles are written with or without `@`; stored without, so `@acme` and
/// `acme` are the same account.
fn parse_handle(violations: &mut Violations, field: &str, value: &str) -> String {
    let trimmed = value.trim();
    let handle = trimmed.strip_prefix('@').unwrap_or(trimmed);
    let handle = validate::text(violations, field, handle, 100, true, Lines::Single);
    if handle.chars().any(char::is_whitespace) {
        violations.add(field, "must not contain spaces");
    }
    handle
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> pb::Account {
        pb::Account {
            network: Network::Instagram as i32,
            handle: "@acme".into(),
            profile_url: "https://instagram.com/acme".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_valid_account_parses_with_defaults() {
        let mut violations = Violations::default();
        let fields = AccountFields::parse(&mut violations, "account", &valid()).unwrap();
        assert_eq!(fields.handle, "acme");
        assert_eq!(fields.status, Status::Active);
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let account = pb::Account {
            network: 99,
            handle: "two words".into(),
            profile_url: "not a url".into(),
            owner: "x".repeat(201),
            status: 42,
            ..Default::default()
        };
        let mut violations = Violations::default();
        assert!(AccountFields::parse(&mut violations, "account", &account).is_none());
        let crate::error::ApiError::InvalidArgument(found) = violations.finish(()).unwrap_err()
        else {
            panic!("expected INVALID_ARGUMENT");
        };
        let fields: Vec<&str> = found.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "account.network",
                "account.handle",
                "account.profile_url",
                "account.owner",
                "account.status"
            ]
        );
    }
}
