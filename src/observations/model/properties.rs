//! Property test of observation input: any observation either parses to a
//! row fit to store or is rejected naming only its bad fields.

use proptest::prelude::*;

use super::*;
use crate::api::fuzzing::{
    assert_only_field_violations, assert_storable, hostile_f64, hostile_timestamp, name_near,
    sometimes, text_near,
};

/// Moments near `now`, where most observations fall, and anything else.
fn observed_at(now: DateTime<Utc>) -> impl Strategy<Value = Option<prost_types::Timestamp>> {
    let near = (-400 * 86_400i64..2 * 86_400)
        .prop_map(move |offset| Some(time::to_proto(now + TimeDelta::seconds(offset))));
    prop_oneof![3 => near, 1 => prop::option::of(hostile_timestamp())]
}

fn observation(now: DateTime<Utc>) -> impl Strategy<Value = pb::Observation> {
    (
        sometimes(text_near(&["likes", ""])),
        prop_oneof![Just(String::new()), name_near(ACCOUNTS)],
        observed_at(now),
        prop_oneof![-1e6..1e6f64, hostile_f64()],
        sometimes(text_near(&["", "api", "csv import"])),
    )
        .prop_map(
            |(metric_key, account, observed_at, value, source)| pb::Observation {
                metric_key: metric_key.unwrap_or_else(|| "likes".into()),
                account,
                observed_at,
                value,
                source: source.unwrap_or_default(),
                recorded_at: None,
                recorded_by: String::new(),
            },
        )
}

proptest! {
    #[test]
    fn observations_parse_to_storable_rows_or_name_their_bad_fields(
        (now, observation) in Just(Utc::now()).prop_flat_map(|now| (Just(now), observation(now))),
        index in 0usize..10_000,
    ) {
        let mut violations = Violations::default();
        let parsed = parse_observation(&mut violations, index, &observation, now);
        prop_assert_eq!(parsed.is_some(), violations.is_empty());
        if let Some(row) = parsed {
            prop_assert!(!row.metric_key.is_empty());
            prop_assert_eq!(
                row.account_id.map(|id| ACCOUNTS.name(id)).unwrap_or_default(),
                observation.account.clone()
            );
            prop_assert!(row.observed_at >= DateTime::UNIX_EPOCH);
            prop_assert!(row.observed_at <= now + TimeDelta::days(1));
            prop_assert!(row.value.abs() <= validate::MAX_VALUE_MAGNITUDE);
            assert_storable(row.source, MAX_SOURCE_CHARS, Lines::Single);
        }
        let prefix = format!("observations[{index}].");
        assert_only_field_violations(violations, |field| {
            field.strip_prefix(&prefix).is_some_and(|name| {
                matches!(name, "metric_key" | "account" | "observed_at" | "value" | "source")
            })
        });
    }
}
