//! Observations as the API receives them, checked apart from what needs the
//! database.

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use crate::api::names::ACCOUNTS;
use crate::api::time;
use crate::api::validate::{self, Lines};
use crate::error::Violations;
use crate::pb;

#[cfg(test)]
mod properties;

/// The most observations one write or one stream chunk may carry by
/// default (`--max-rows-per-message`).
pub const MAX_OBSERVATIONS_PER_MESSAGE: usize = 10_000;
/// The longest source label.
pub const MAX_SOURCE_CHARS: usize = 200;

/// An observation row, checked apart from what needs the database (that
/// its metric and account exist); borrows from the request.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservationRow<'a> {
    /// The metric key.
    pub metric_key: &'a str,
    /// The account, or `None` for the organisation-wide series.
    pub account_id: Option<Uuid>,
    /// When the value was observed.
    pub observed_at: DateTime<Utc>,
    /// The value.
    pub value: f64,
    /// Where it came from, trimmed.
    pub source: &'a str,
}

/// The checks of observation `index` that need no database, reported as
/// `observations[index].field`. Field paths are only built for violations:
/// valid rows, the bulk of any load, cost no allocation.
pub fn parse_observation<'a>(
    violations: &mut Violations,
    index: usize,
    observation: &'a pb::Observation,
    now: DateTime<Utc>,
) -> Option<ObservationRow<'a>> {
    let before = violations.len();
    let field = |name: &str| format!("observations[{index}].{name}");
    if observation.metric_key.is_empty() {
        violations.add(field("metric_key"), "is required");
    }
    let account_id = match observation.account.as_str() {
        "" => None,
        name => ACCOUNTS.id_of(name).or_else(|| {
            violations.absorb(ACCOUNTS.parse(&field("account"), name));
            None
        }),
    };
    let observed_at = match &observation.observed_at {
        None => {
            violations.add(field("observed_at"), "is required");
            None
        }
        Some(timestamp) => time::to_utc(timestamp).or_else(|| {
            violations.absorb(time::from_proto(&field("observed_at"), timestamp));
            None
        }),
    };
    if let Some(observed_at) = observed_at {
        if observed_at < DateTime::UNIX_EPOCH {
            violations.add(
                field("observed_at"),
                "must not be before 1970-01-01T00:00:00Z",
            );
        } else if observed_at > now + TimeDelta::days(1) {
            violations.add(
                field("observed_at"),
                "must not be more than a day in the future",
            );
        }
    }
    validate::bounded_value(violations, || field("value"), observation.value);
    let source = observation.source.trim();
    let plain = source.len() <= MAX_SOURCE_CHARS && !source.chars().any(char::is_control);
    if !plain {
        // The general check reports exactly what is wrong.
        validate::text(
            violations,
            &field("source"),
            source,
            MAX_SOURCE_CHARS,
            false,
            Lines::Single,
        );
    }
    if violations.len() != before {
        return None;
    }
    Some(ObservationRow {
        metric_key: &observation.metric_key,
        account_id,
        observed_at: observed_at?,
        value: observation.value,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(violations: Violations) -> Vec<String> {
        match violations.finish(()) {
            Ok(()) => vec![],
            Err(crate::error::ApiError::InvalidArgument(found)) => {
                found.into_iter().map(|v| v.field).collect()
            }
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn observations_are_checked_field_by_field() {
        let now = Utc::now();
        let good = pb::Observation {
            metric_key: "likes".into(),
            account: String::new(),
            observed_at: Some(time::to_proto(now)),
            value: 3.0,
            source: "api".into(),
            recorded_at: None,
            recorded_by: String::new(),
        };
        let mut violations = Violations::default();
        assert!(parse_observation(&mut violations, 0, &good, now).is_some());

        let cases = [
            (
                "missing key",
                pb::Observation {
                    metric_key: String::new(),
                    ..good.clone()
                },
                "observations[0].metric_key",
            ),
            (
                "bad account",
                pb::Observation {
                    account: "accounts/x".into(),
                    ..good.clone()
                },
                "observations[0].account",
            ),
            (
                "no time",
                pb::Observation {
                    observed_at: None,
                    ..good.clone()
                },
                "observations[0].observed_at",
            ),
            (
                "before 1970",
                pb::Observation {
                    observed_at: Some(prost_types::Timestamp {
                        seconds: -5,
                        nanos: 0,
                    }),
                    ..good.clone()
                },
                "observations[0].observed_at",
            ),
            (
                "two days ahead",
                pb::Observation {
                    observed_at: Some(time::to_proto(now + TimeDelta::days(2))),
                    ..good.clone()
                },
                "observations[0].observed_at",
            ),
            (
                "nan",
                pb::Observation {
                    value: f64::NAN,
                    ..good.clone()
                },
                "observations[0].value",
            ),
            (
                "infinite",
                pb::Observation {
                    value: f64::NEG_INFINITY,
                    ..good.clone()
                },
                "observations[0].value",
            ),
            (
                "beyond the bound",
                pb::Observation {
                    value: f64::from_bits(validate::MAX_VALUE_MAGNITUDE.to_bits() + 1),
                    ..good.clone()
                },
                "observations[0].value",
            ),
            (
                "long source",
                pb::Observation {
                    source: "s".repeat(201),
                    ..good.clone()
                },
                "observations[0].source",
            ),
        ];
        for (description, bad, field) in cases {
            let mut violations = Violations::default();
            assert!(
                parse_observation(&mut violations, 0, &bad, now).is_none(),
                "{description}"
            );
            assert_eq!(fields(violations), [field], "{description}");
        }
    }
}
