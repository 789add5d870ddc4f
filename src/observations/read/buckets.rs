//! Cutting a query's range into UTC-aligned buckets, and deciding which
//! parts of it daily rollups can serve (DESIGN §1, §4), as pure functions.

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bucket {
    /// Inclusive.
    pub start: DateTime<Utc>,
    /// Exclusive.
    pub end: DateTime<Utc>,
}

/// The first moment of a UTC day.
pub(super) fn midnight(day: NaiveDate) -> DateTime<Utc> {
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

impl Bucket {
    /// The UTC day this range lies in, when it does not cross a midnight.
    pub fn day(&self) -> Option<NaiveDate> {
        let day = self.start.date_naive();
        (self.start < self.end && self.end <= midnight(day + Days::new(1))).then_some(day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
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
}
