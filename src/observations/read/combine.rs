//! Combining what the rollups and raw rows hold of a window, exactly as
//! DESIGN §1 aggregates: merging partial aggregates of a series, and a base
//! metric's value across series. Pure, so table-tested without a database.

use chrono::{DateTime, Utc};

use crate::catalog::formula::Aggregation;

/// What is known of one series' observations in part of a bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Partial {
    /// The sum of the values.
    pub sum: f64,
    /// How many values.
    pub count: i64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// The value observed last.
    pub last_value: f64,
    /// When it was observed.
    pub last_at: DateTime<Utc>,
    /// When the first value was observed.
    pub first_at: DateTime<Utc>,
}

impl Partial {
    /// The aggregate of both parts.
    pub fn merge(self, other: Partial) -> Partial {
        let (last_value, last_at) = if other.last_at > self.last_at {
            (other.last_value, other.last_at)
        } else {
            (self.last_value, self.last_at)
        };
        Partial {
            sum: self.sum + other.sum,
            count: self.count + other.count,
            min: self.min.min(other.min),
            max: self.max.max(other.max),
            last_value,
            last_at,
            first_at: self.first_at.min(other.first_at),
        }
    }
}

/// What a bucket holds of a base metric across every selected series:
/// enough to give its value under any aggregation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Combined {
    /// The sum of every value.
    pub sum: f64,
    /// How many values; positive.
    pub count: i64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// Each series' latest value, added up across series.
    pub last_sum: f64,
    /// When the newest of the values was observed, when known.
    pub last_at: Option<DateTime<Utc>>,
}

impl Combined {
    /// Combines the partials of a bucket, one per series (already merged);
    /// `None` when no series has an observation: no data, not zero.
    pub fn of<'a>(series: impl IntoIterator<Item = &'a Partial>) -> Option<Combined> {
        series
            .into_iter()
            .filter(|partial| partial.count > 0)
            .map(|p| Combined {
                sum: p.sum,
                count: p.count,
                min: p.min,
                max: p.max,
                last_sum: p.last_value,
                last_at: Some(p.last_at),
            })
            .reduce(Combined::merge)
    }

    /// The aggregate of a read of composable aggregates (no LAST), whose
    /// newest value was observed at `newest`.
    pub fn composable(sum: f64, count: i64, min: f64, max: f64, newest: DateTime<Utc>) -> Combined {
        Combined {
            sum,
            count,
            min,
            max,
            last_sum: 0.0,
            last_at: Some(newest),
        }
    }

    /// Both aggregates together: what disjoint sets of observations (other
    /// series, or other days of one window) hold between them.
    pub fn merge(self, other: Combined) -> Combined {
        Combined {
            sum: self.sum + other.sum,
            count: self.count + other.count,
            min: self.min.min(other.min),
            max: self.max.max(other.max),
            last_sum: self.last_sum + other.last_sum,
            last_at: self.last_at.max(other.last_at),
        }
    }

    /// The base metric's value under `aggregation`.
    pub fn value(&self, aggregation: Aggregation) -> f64 {
        match aggregation {
            Aggregation::Sum => self.sum,
            Aggregation::Last => self.last_sum,
            Aggregation::Avg => self.sum / self.count as f64,
            Aggregation::Min => self.min,
            Aggregation::Max => self.max,
        }
    }
}

/// A base metric's value over a bucket from its series' partials (one per
/// series, already merged). `None` when no series has an observation.
pub fn aggregate<'a>(
    aggregation: Aggregation,
    series: impl IntoIterator<Item = &'a Partial>,
) -> Option<f64> {
    Combined::of(series).map(|combined| combined.value(aggregation))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn partial(values: &[(f64, &str)]) -> Partial {
        let mut result: Option<Partial> = None;
        for &(value, time) in values {
            let one = Partial {
                sum: value,
                count: 1,
                min: value,
                max: value,
                last_value: value,
                last_at: at(time),
                first_at: at(time),
            };
            result = Some(result.map_or(one, |so_far| so_far.merge(one)));
        }
        result.unwrap()
    }

    #[test]
    fn merged_partials_keep_the_latest_value() {
        let merged = partial(&[(5.0, "2026-03-01T10:00:00Z")])
            .merge(partial(&[(3.0, "2026-03-01T09:00:00Z")]));
        assert_eq!(
            (merged.sum, merged.count, merged.min, merged.max),
            (8.0, 2, 3.0, 5.0)
        );
        assert_eq!(merged.last_value, 5.0);
    }

    #[test]
    fn base_aggregations() {
        let a = partial(&[
            (10.0, "2026-03-01T01:00:00Z"),
            (30.0, "2026-03-01T05:00:00Z"),
        ]);
        let b = partial(&[(100.0, "2026-03-01T02:00:00Z")]);
        assert_eq!(aggregate(Aggregation::Sum, [&a, &b]), Some(140.0));
        // LAST: each series' latest (30 and 100), summed across series.
        assert_eq!(aggregate(Aggregation::Last, [&a, &b]), Some(130.0));
        assert_eq!(aggregate(Aggregation::Avg, [&a, &b]), Some(140.0 / 3.0));
        assert_eq!(aggregate(Aggregation::Min, [&a, &b]), Some(10.0));
        assert_eq!(aggregate(Aggregation::Max, [&a, &b]), Some(100.0));
        assert_eq!(aggregate(Aggregation::Sum, []), None, "no data is not zero");
    }
}
