//! Property test of account input: any account a caller sends either parses
//! to fields fit to store or is rejected naming only the bad fields.

use proptest::prelude::*;

use super::*;
use crate::api::fuzzing::{assert_only_field_violations, assert_storable, enum_number, text_near};

fn account() -> impl Strategy<Value = pb::Account> {
    (
        enum_number(11),
        text_near(&["acme", "@acme", "acme.brand_2"]),
        text_near(&[
            "",
            "https://instagram.com/acme",
            "http://x.com/acme?lang=en",
        ]),
        text_near(&["", "Acme Inc."]),
        text_near(&["", "social team"]),
        text_near(&["", "brand\nand support"]),
        enum_number(4),
    )
        .prop_map(
            |(network, handle, profile_url, display_name, owner, purpose, status)| pb::Account {
                network,
                handle,
                profile_url,
                display_name,
                owner,
                purpose,
                status,
                ..Default::default()
            },
        )
}

proptest! {
    #[test]
    fn accounts_parse_to_storable_fields_or_name_their_bad_fields(account in account()) {
        let mut violations = Violations::default();
        let parsed = AccountFields::parse(&mut violations, "account", &account);
        prop_assert_eq!(parsed.is_some(), violations.is_empty());
        if let Some(fields) = parsed {
            assert_storable(&fields.handle, 100, Lines::Single);
            prop_assert!(!fields.handle.is_empty() && !fields.handle.contains(char::is_whitespace));
            prop_assert!(!fields.handle.starts_with('@') || account.handle.trim().starts_with("@@"));
            assert_storable(&fields.profile_url, 2048, Lines::Single);
            assert_storable(&fields.display_name, 200, Lines::Single);
            assert_storable(&fields.owner, 200, Lines::Single);
            assert_storable(&fields.purpose, 1000, Lines::Multi);
            prop_assert_eq!(fields.network as i32, account.network);
        }
        assert_only_field_violations(violations, |field| {
            field
                .strip_prefix("account.")
                .is_some_and(|name| UPDATABLE_FIELDS.contains(&name))
        });
    }
}
