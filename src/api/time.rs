//! Conversions between `google.protobuf.Timestamp` and UTC times.

use chrono::{DateTime, Utc};
use prost_types::Timestamp;

use crate::error::ApiError;

/// A UTC time as a protobuf timestamp.
pub fn to_proto(time: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    }
}

/// A UTC time as a protobuf timestamp when it falls in the years 0001-9999
/// that RFC 3339 (and so every client) can print; else `None`.
pub fn to_proto_checked(time: DateTime<Utc>) -> Option<Timestamp> {
    (1..=9999)
        .contains(&chrono::Datelike::year(&time))
        .then(|| to_proto(time))
}

/// An optional UTC time as an optional protobuf timestamp.
pub fn to_proto_opt(time: Option<DateTime<Utc>>) -> Option<Timestamp> {
    time.map(to_proto)
}

/// A protobuf timestamp as a UTC time, truncated to microseconds (what
/// PostgreSQL keeps); `None` when out of range.
pub fn to_utc(timestamp: &Timestamp) -> Option<DateTime<Utc>> {
    let valid_nanos = (0..1_000_000_000).contains(&timestamp.nanos);
    valid_nanos
        .then(|| DateTime::from_timestamp(timestamp.seconds, timestamp.nanos as u32))
        .flatten()
        // PostgreSQL timestamptz spans 4713 BC to 294276 AD; RFC 3339 years
        // 0001-9999 are the range clients can also print.
        .filter(|time| (1..=9999).contains(&chrono::Datelike::year(time)))
        .map(|time| DateTime::from_timestamp_micros(time.timestamp_micros()).unwrap_or(time))
}

/// [`to_utc`], reporting out-of-range values against `field`.
pub fn from_proto(field: &str, timestamp: &Timestamp) -> Result<DateTime<Utc>, ApiError> {
    to_utc(timestamp).ok_or_else(|| {
        ApiError::invalid_field(
            field,
            "is not a valid timestamp: seconds must fall in years 0001-9999 and nanos in 0..1e9",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_at_microsecond_precision() {
        let ts = Timestamp {
            seconds: 1_700_000_000,
            nanos: 123_456_789,
        };
        let time = from_proto("t", &ts).unwrap();
        assert_eq!(
            to_proto(time),
            Timestamp {
                seconds: 1_700_000_000,
                nanos: 123_456_000
            }
        );
    }

    #[test]
    fn out_of_range_timestamps_are_rejected() {
        for ts in [
            Timestamp {
                seconds: 0,
                nanos: -1,
            },
            Timestamp {
                seconds: 0,
                nanos: 1_000_000_000,
            },
            Timestamp {
                seconds: i64::MAX,
                nanos: 0,
            },
        ] {
            assert!(from_proto("t", &ts).is_err(), "{ts:?}");
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;
        use crate::api::fuzzing::{assert_invalid, hostile_timestamp};

        proptest! {
            #[test]
            fn timestamps_parse_to_printable_microseconds_or_are_rejected(
                timestamp in hostile_timestamp(),
            ) {
                match from_proto("start_time", &timestamp) {
                    Ok(time) => {
                        prop_assert!((1..=9999).contains(&chrono::Datelike::year(&time)));
                        // The moment is kept to the microsecond, as stored.
                        let back = to_proto_checked(time).expect("a printable year");
                        prop_assert_eq!(back.seconds, timestamp.seconds);
                        prop_assert_eq!(back.nanos, timestamp.nanos / 1000 * 1000);
                    }
                    Err(error) => assert_invalid(error, |field| field == "start_time"),
                }
            }
        }
    }
}
