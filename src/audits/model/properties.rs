//! Property tests of audit input: any audit or entry a caller sends either
//! parses to fields fit to store or is rejected naming only the bad fields.

use proptest::prelude::*;

use super::*;
use crate::api::fuzzing::{
    assert_only_field_violations, assert_storable, enum_number, hostile_f64, hostile_text,
    hostile_timestamp, name_near, text_near,
};

fn audit() -> impl Strategy<Value = pb::Audit> {
    (
        text_near(&["Q1 audit"]),
        text_near(&["", "Ana"]),
        prop::option::of(hostile_timestamp()),
    )
        .prop_map(|(title, auditor, as_of)| pb::Audit {
            title,
            auditor,
            as_of,
            ..Default::default()
        })
}

fn entry() -> impl Strategy<Value = pb::AuditEntry> {
    let metric = (
        prop_oneof![text_near(&["likes", "followers"]), hostile_text()],
        hostile_f64(),
    );
    (
        name_near(ACCOUNTS),
        prop::collection::btree_map(metric.0, metric.1, 0..4),
        prop::collection::vec(text_near(&["https://instagram.com/p/1"]), 0..3),
        enum_number(3),
        text_near(&["", "grew well\nkeep going"]),
    )
        .prop_map(
            |(account, metrics, top_post_urls, assessment, notes)| pb::AuditEntry {
                account,
                metrics,
                top_post_urls,
                assessment,
                notes,
            },
        )
}

proptest! {
    #[test]
    fn audits_parse_to_storable_fields_or_name_their_bad_fields(audit in audit()) {
        let now = Utc::now();
        let mut violations = Violations::default();
        let fields = AuditFields::parse(&mut violations, "audit", &audit, now);
        if violations.is_empty() {
            assert_storable(&fields.title, 200, Lines::Single);
            prop_assert!(!fields.title.is_empty());
            assert_storable(&fields.auditor, 200, Lines::Single);
            prop_assert!(fields.as_of >= DateTime::UNIX_EPOCH);
            prop_assert!(fields.as_of <= now + TimeDelta::days(1));
        }
        assert_only_field_violations(violations, |field| {
            matches!(field, "audit.title" | "audit.auditor" | "audit.as_of")
        });
    }

    #[test]
    fn entries_parse_to_storable_fields_or_name_their_bad_fields(entry in entry()) {
        let mut violations = Violations::default();
        let parsed = EntryFields::parse(&mut violations, "audit.entries[0]", &entry);
        if let (true, Some(fields)) = (violations.is_empty(), &parsed) {
            prop_assert_eq!(ACCOUNTS.name(fields.account_id), entry.account.clone());
            for (key, value) in &fields.metrics {
                prop_assert!(is_metric_key(key));
                prop_assert!(value.abs() <= validate::MAX_VALUE_MAGNITUDE);
            }
            for url in &fields.top_post_urls {
                prop_assert!(!url.is_empty());
                assert_storable(url, 2048, Lines::Single);
            }
            assert_storable(&fields.notes, 5000, Lines::Multi);
        }
        assert_only_field_violations(violations, |field| {
            field.strip_prefix("audit.entries[0].").is_some_and(|name| {
                ["account", "assessment", "notes", "metrics", "top_post_urls"]
                    .iter()
                    .any(|known| name.starts_with(known))
            })
        });
    }
}
