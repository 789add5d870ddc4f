//! The exact aggregation rules of DESIGN §1, as pure functions: cutting a
//! range into UTC-aligned buckets, deciding which parts of it daily rollups
//! can serve, merging partial aggregates of a series, aggregating a base
//! metric across series, and evaluating a derived metric's formula.

use chrono::{DateTime, Datelike, Days, Duration, Months, NaiveDate, NaiveTime, TimeZone, Utc};

/// The most buckets one query may ask for.
pub const MAX_BUCKETS: usize = 10_000;

/// How a range is cut into buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    /// UTC hours.
    Hour,
    /// UTC days.
    Day,
    /// ISO weeks, starting Monday 00:00 UTC.
    Week,
    /// Calendar months, starting on the 1st at 00:00 UTC.
    Month,
    /// One bucket for the whole range.
    Whole,
}

/// A half-open time range `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// Inclusive.
    pub start: DateTime<Utc>,
    /// Exclusive.
    pub end: DateTime<Utc>,
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_time(NaiveTime::MIN))
}

/// The start of the interval containing `time`.
fn floor(time: DateTime<Utc>, interval: Interval) -> DateTime<Utc> {
    let day = time.date_naive();
    match interval {
        Interval::Hour => {
            time - Duration::seconds(i64::from(time.timestamp().rem_euclid(3600) as u32))
                - Duration::nanoseconds(i64::from(time.timestamp_subsec_nanos()))
        }
        Interval::Day => midnight(day),
        Interval::Week => {
            midnight(day - Days::new(u64::from(day.weekday().num_days_from_monday())))
        }
        Interval::Month => midnight(day.with_day(1).unwrap_or(day)),
        Interval::Whole => time,
    }
}

/// The start of the interval after the one starting at `start`.
fn next(start: DateTime<Utc>, interval: Interval) -> Option<DateTime<Utc>> {
    match interval {
        Interval::Hour => start.checked_add_signed(Duration::hours(1)),
        Interval::Day => start.checked_add_days(Days::new(1)),
        Interval::Week => start.checked_add_days(Days::new(7)),
        Interval::Month => start.checked_add_months(Months::new(1)),
        Interval::Whole => None,
    }
}

/// Cuts `[start, end)` into buckets aligned to `interval` in UTC, the first
/// and last cut to the range. Fails when there would be more than
/// [`MAX_BUCKETS`].
pub fn buckets(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    interval: Interval,
) -> Result<Vec<Bucket>, usize> {
    let mut buckets = Vec::new();
    let mut bucket_start = start;
    while bucket_start < end {
        if buckets.len() == MAX_BUCKETS {
            return Err(MAX_BUCKETS);
        }
        let bucket_end =
            next(floor(bucket_start, interval), interval).map_or(end, |next| next.min(end));
        buckets.push(Bucket {
            start: bucket_start,
            end: bucket_end,
        });
        bucket_start = bucket_end;
    }
    Ok(buckets)
}

/// Which parts of a query's range read daily rollups and which read raw
/// observations. Rollups serve every whole UTC day inside the range when
/// buckets are made of whole days; raw rows serve the partial days at the
/// edges (or everything, for hourly buckets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPlan {
    /// Whole days `[first, end)` read from rollups, if any.
    pub rollup_days: Option<(NaiveDate, NaiveDate)>,
    /// Ranges read from raw observations.
    pub raw_ranges: Vec<Bucket>,
}

/// Plans the reads for `[start, end)` under `interval`.
pub fn read_plan(start: DateTime<Utc>, end: DateTime<Utc>, interval: Interval) -> ReadPlan {
    let first_whole_day = if floor(start, Interval::Day) == start {
        start
    } else {
        midnight(start.date_naive() + Days::new(1))
    };
    let after_last_whole_day = floor(end, Interval::Day);
    if interval == Interval::Hour || first_whole_day >= after_last_whole_day {
        return ReadPlan {
            rollup_days: None,
            raw_ranges: vec![Bucket { start, end }],
        };
    }
    let raw_ranges = [
        Bucket {
            start,
            end: first_whole_day,
        },
        Bucket {
            start: after_last_whole_day,
            end,
        },
    ]
    .into_iter()
    .filter(|range| range.start < range.end)
    .collect();
    ReadPlan {
        rollup_days: Some((
            first_whole_day.date_naive(),
            after_last_whole_day.date_naive(),
        )),
        raw_ranges,
    }
}

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
        }
    }
}

/// How a base metric's observations combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    /// Every observation added up.
    Sum,
    /// Each series' latest observation, added up across series.
    Last,
    /// The mean of every observation.
    Avg,
    /// The smallest observation.
    Min,
    /// The largest observation.
    Max,
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
            })
            .reduce(|a, b| Combined {
                sum: a.sum + b.sum,
                count: a.count + b.count,
                min: a.min.min(b.min),
                max: a.max.max(b.max),
                last_sum: a.last_sum + b.last_sum,
            })
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

/// Formula terms: (metric key, coefficient) pairs.
pub type Terms = Vec<(String, f64)>;

/// A derived metric's formula: `scale × Σ numerator / Σ denominator`.
#[derive(Debug, Clone, PartialEq)]
pub struct Formula {
    /// (metric key, coefficient) above the bar.
    pub numerator: Terms,
    /// (metric key, coefficient) below the bar.
    pub denominator: Terms,
    /// The factor applied to the ratio.
    pub scale: f64,
}

impl Formula {
    /// Every metric the formula reads, numerator first, without repeats.
    pub fn terms(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = Vec::new();
        for (key, _) in self.numerator.iter().chain(&self.denominator) {
            if !keys.contains(&key.as_str()) {
                keys.push(key);
            }
        }
        keys
    }

    /// The formula's value given each term's aggregated value (`None` = no
    /// data). A side has no data when none of its terms has; a term without
    /// data beside one with data counts as 0; a zero denominator has no data.
    pub fn evaluate(&self, value_of: impl Fn(&str) -> Option<f64>) -> Option<f64> {
        let side = |terms: &[(String, f64)]| -> Option<f64> {
            let values: Vec<(Option<f64>, f64)> = terms
                .iter()
                .map(|(key, coefficient)| (value_of(key), *coefficient))
                .collect();
            values.iter().any(|(value, _)| value.is_some()).then(|| {
                values
                    .iter()
                    .map(|(value, coefficient)| value.unwrap_or(0.0) * coefficient)
                    .sum()
            })
        };
        let numerator = side(&self.numerator)?;
        let denominator = side(&self.denominator)?;
        (denominator != 0.0).then(|| self.scale * numerator / denominator)
    }
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
            };
            result = Some(result.map_or(one, |so_far| so_far.merge(one)));
        }
        result.unwrap()
    }

    #[test]
    fn day_buckets_are_aligned_and_cut_to_the_range() {
        let found = buckets(
            at("2026-03-01T10:30:00Z"),
            at("2026-03-03T14:00:00Z"),
            Interval::Day,
        )
        .unwrap();
        assert_eq!(
            found,
            [
                Bucket {
                    start: at("2026-03-01T10:30:00Z"),
                    end: at("2026-03-02T00:00:00Z")
                },
                Bucket {
                    start: at("2026-03-02T00:00:00Z"),
                    end: at("2026-03-03T00:00:00Z")
                },
                Bucket {
                    start: at("2026-03-03T00:00:00Z"),
                    end: at("2026-03-03T14:00:00Z")
                },
            ]
        );
    }

    #[test]
    fn weeks_start_on_monday_and_months_on_the_first() {
        // 2026-03-04 is a Wednesday.
        let weeks = buckets(
            at("2026-03-04T00:00:00Z"),
            at("2026-03-20T00:00:00Z"),
            Interval::Week,
        )
        .unwrap();
        let starts: Vec<_> = weeks.iter().map(|b| b.start).collect();
        assert_eq!(
            starts,
            [
                at("2026-03-04T00:00:00Z"),
                at("2026-03-09T00:00:00Z"),
                at("2026-03-16T00:00:00Z")
            ]
        );
        let months = buckets(
            at("2026-01-31T12:00:00Z"),
            at("2026-04-01T00:00:00Z"),
            Interval::Month,
        )
        .unwrap();
        let ends: Vec<_> = months.iter().map(|b| b.end).collect();
        assert_eq!(
            ends,
            [
                at("2026-02-01T00:00:00Z"),
                at("2026-03-01T00:00:00Z"),
                at("2026-04-01T00:00:00Z")
            ]
        );
    }

    #[test]
    fn hours_and_whole_ranges() {
        let hours = buckets(
            at("2026-03-01T10:15:00Z"),
            at("2026-03-01T12:00:00Z"),
            Interval::Hour,
        )
        .unwrap();
        assert_eq!(hours.len(), 2);
        assert_eq!(hours[0].end, at("2026-03-01T11:00:00Z"));
        let whole = buckets(
            at("2026-03-01T10:15:00Z"),
            at("2026-05-01T00:00:00Z"),
            Interval::Whole,
        )
        .unwrap();
        assert_eq!(whole.len(), 1);
        assert!(
            buckets(
                at("2026-03-01T00:00:00Z"),
                at("2026-03-01T00:00:00Z"),
                Interval::Day
            )
            .unwrap()
            .is_empty()
        );
    }

    #[test]
    fn too_many_buckets_is_an_error() {
        assert!(
            buckets(
                at("2000-01-01T00:00:00Z"),
                at("2026-01-01T00:00:00Z"),
                Interval::Hour
            )
            .is_err()
        );
    }

    #[test]
    fn read_plans_use_rollups_for_whole_days_only() {
        let plan = read_plan(
            at("2026-03-01T10:30:00Z"),
            at("2026-03-04T14:00:00Z"),
            Interval::Day,
        );
        assert_eq!(
            plan.rollup_days,
            Some(("2026-03-02".parse().unwrap(), "2026-03-04".parse().unwrap()))
        );
        assert_eq!(
            plan.raw_ranges,
            [
                Bucket {
                    start: at("2026-03-01T10:30:00Z"),
                    end: at("2026-03-02T00:00:00Z")
                },
                Bucket {
                    start: at("2026-03-04T00:00:00Z"),
                    end: at("2026-03-04T14:00:00Z")
                },
            ]
        );
        let aligned = read_plan(
            at("2026-03-01T00:00:00Z"),
            at("2026-03-31T00:00:00Z"),
            Interval::Month,
        );
        assert!(aligned.raw_ranges.is_empty());
        let within_a_day = read_plan(
            at("2026-03-01T01:00:00Z"),
            at("2026-03-01T23:00:00Z"),
            Interval::Whole,
        );
        assert_eq!(within_a_day.rollup_days, None);
        let hourly = read_plan(
            at("2026-03-01T00:00:00Z"),
            at("2026-03-05T00:00:00Z"),
            Interval::Hour,
        );
        assert_eq!(hourly.rollup_days, None);
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

    #[test]
    fn derived_values_are_ratios_of_aggregates() {
        let engagement = Formula {
            numerator: vec![
                ("likes".into(), 1.0),
                ("comments".into(), 1.0),
                ("shares".into(), 1.0),
            ],
            denominator: vec![("followers".into(), 1.0)],
            scale: 100.0,
        };
        let values = |key: &str| match key {
            "likes" => Some(30.0),
            "shares" => Some(10.0),
            "followers" => Some(400.0),
            _ => None,
        };
        // comments has no data but its side does: it counts as 0.
        assert_eq!(engagement.evaluate(values), Some(10.0));
        assert_eq!(
            engagement.evaluate(|key| (key == "likes").then_some(1.0)),
            None,
            "no denominator data"
        );
        assert_eq!(
            engagement.evaluate(|key| (key == "followers").then_some(1.0)),
            None,
            "no numerator data"
        );
        assert_eq!(
            engagement.evaluate(|key| Some(if key == "followers" { 0.0 } else { 1.0 })),
            None,
            "zero denominator"
        );
        let nps = Formula {
            numerator: vec![("promoters".into(), 1.0), ("detractors".into(), -1.0)],
            denominator: vec![("nps_responses".into(), 1.0)],
            scale: 100.0,
        };
        assert_eq!(nps.terms(), ["promoters", "detractors", "nps_responses"]);
        let answers = |key: &str| match key {
            "promoters" => Some(60.0),
            "detractors" => Some(10.0),
            "nps_responses" => Some(100.0),
            _ => None,
        };
        assert_eq!(nps.evaluate(answers), Some(50.0));
    }
}
