//! The window evaluator: a metric's exact value (DESIGN §1) over each of a
//! list of time windows for a selection of accounts, or no data. It knows
//! nothing of protobuf; QueryMetric and progress both call it.
//!
//! Windows are half-open, `[start, end)`, at PostgreSQL's microsecond
//! resolution, which expresses every bound the API needs exactly: a key
//! result's `(T − w, T]` is `[⌊T − w⌋ + 1 µs, ⌊T⌋ + 1 µs)`. Whole UTC days
//! inside a window are read from the daily rollups, the partial days at its
//! edges from raw rows, so the cost follows the days in a window, not its
//! rows.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use rustc_hash::FxHashMap;
use sqlx::PgConnection;
use uuid::Uuid;

use super::buckets::{self, Bucket};
use super::combine::Combined;
use super::day_grid;
use crate::catalog::formula::{Aggregation, Formula};
use crate::catalog::repo::{Computation, MetricRecord};
use crate::error::ApiError;

/// A time window `[start, end)`, bounds at microsecond resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The first moment that counts.
    pub start: DateTime<Utc>,
    /// The first moment after it that does not.
    pub end: DateTime<Utc>,
}

/// `time` cut down to whole microseconds, the resolution observations are
/// stored at, so that comparisons with stored times are exact.
fn floor_micros(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(time.timestamp_micros()).unwrap_or(time)
}

const MICROSECOND: TimeDelta = TimeDelta::microseconds(1);

impl Window {
    /// `[start, end)`: a QueryMetric bucket.
    pub fn half_open(start: DateTime<Utc>, end: DateTime<Utc>) -> Window {
        Window {
            start: floor_micros(start),
            end: floor_micros(end),
        }
    }

    /// `(at − width, at]`: a trailing key result window, which counts an
    /// observation stamped exactly `at`.
    pub fn trailing(at: DateTime<Utc>, width: TimeDelta) -> Window {
        Window {
            start: floor_micros(at - width) + MICROSECOND,
            end: floor_micros(at) + MICROSECOND,
        }
    }

    /// `[start, end]`: a cumulative key result window, or a baseline range.
    pub fn closed(start: DateTime<Utc>, end: DateTime<Utc>) -> Window {
        Window {
            start: floor_micros(start),
            end: floor_micros(end) + MICROSECOND,
        }
    }

    fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// Which series a read covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every account and the organisation-wide series.
    All,
    /// These accounts, and the organisation-wide series when `organisation`.
    Some {
        /// The accounts, sorted, without repeats.
        accounts: Vec<Uuid>,
        /// Whether the organisation-wide series counts.
        organisation: bool,
    },
}

impl Selection {
    /// A selection from a list where `None` names the organisation-wide
    /// series; an empty list selects everything.
    pub fn from_list(list: impl IntoIterator<Item = Option<Uuid>>) -> Selection {
        let mut accounts = Vec::new();
        let mut organisation = false;
        let mut any = false;
        for entry in list {
            any = true;
            match entry {
                Some(id) => accounts.push(id),
                None => organisation = true,
            }
        }
        if !any {
            return Selection::All;
        }
        accounts.sort();
        accounts.dedup();
        Selection::Some {
            accounts,
            organisation,
        }
    }
}

/// What the evaluator needs of a metric: its base metrics with their
/// aggregations, and the formula over them for a derived metric.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPlan {
    bases: Vec<(String, Aggregation)>,
    formula: Option<Formula>,
}

impl MetricPlan {
    /// The plan of `key` under `catalog`; `None` when the catalog has no such
    /// metric (or a formula names a metric it lacks).
    pub fn resolve(catalog: &HashMap<String, MetricRecord>, key: &str) -> Option<MetricPlan> {
        match &catalog.get(key)?.computation {
            Computation::Base(aggregation) => Some(MetricPlan {
                bases: vec![(key.to_owned(), *aggregation)],
                formula: None,
            }),
            Computation::Derived(formula) => {
                let bases = formula
                    .terms()
                    .into_iter()
                    .map(|term| Some((term.to_owned(), catalog.get(term)?.aggregation()?)))
                    .collect::<Option<Vec<_>>>()?;
                Some(MetricPlan {
                    bases,
                    formula: Some(formula.clone()),
                })
            }
        }
    }

    /// The base metrics read.
    pub fn base_keys(&self) -> Vec<&str> {
        self.bases.iter().map(|(key, _)| key.as_str()).collect()
    }

    /// The metric's value from each base metric's combined aggregate.
    fn value(&self, combined: impl Fn(&str) -> Option<Combined>) -> Option<f64> {
        let base_value = |key: &str| {
            let aggregation = self
                .bases
                .iter()
                .find(|(base, _)| base == key)
                .map(|(_, aggregation)| *aggregation)?;
            Some(combined(key)?.value(aggregation))
        };
        match &self.formula {
            None => base_value(&self.bases[0].0),
            Some(formula) => formula.evaluate(base_value),
        }
    }
}

/// The value of `metric` over each of `windows` for `selection`, in the
/// order given; `None` is no data. One statement, so within the caller's
/// transaction every window reads the same snapshot.
pub async fn evaluate(
    conn: &mut PgConnection,
    metric: &MetricPlan,
    selection: &Selection,
    windows: &[Window],
) -> Result<Vec<Option<f64>>, ApiError> {
    let combined = read_bases(conn, &metric.bases, selection, windows).await?;
    Ok((0..windows.len())
        .map(|index| metric.value(|key| combined.get(&(index, key.to_owned())).copied()))
        .collect())
}

/// The selected series of each base metric combined per (window index,
/// key). Composable aggregates are read as a [day grid](super::day_grid);
/// LAST, which needs each series' own latest value, and windows cut at
/// other moments than midnights (hourly buckets), per series.
async fn read_bases(
    conn: &mut PgConnection,
    bases: &[(String, Aggregation)],
    selection: &Selection,
    windows: &[Window],
) -> Result<FxHashMap<(usize, String), Combined>, ApiError> {
    let cut_within_days = windows
        .windows(2)
        .any(|pair| pair[0].end == pair[1].start && pair[1].start.time() != chrono::NaiveTime::MIN);
    let (composable, per_series): (Vec<&str>, Vec<&str>) = {
        let mut composable = Vec::new();
        let mut per_series = Vec::new();
        for (key, aggregation) in bases {
            if *aggregation == Aggregation::Last || cut_within_days {
                per_series.push(key.as_str());
            } else {
                composable.push(key.as_str());
            }
        }
        (composable, per_series)
    };
    let mut combined = FxHashMap::default();
    if !composable.is_empty() {
        combined.extend(day_grid::combine(conn, &composable, selection, windows).await?);
    }
    if !per_series.is_empty() {
        combined.extend(combine(conn, &per_series, selection, windows).await?);
    }
    Ok(combined)
}

/// The selected series of `base_keys` combined per (window index, key),
/// series by series.
async fn combine(
    conn: &mut PgConnection,
    base_keys: &[&str],
    selection: &Selection,
    windows: &[Window],
) -> Result<FxHashMap<(usize, String), Combined>, ApiError> {
    if windows.iter().all(Window::is_empty) {
        return Ok(FxHashMap::default());
    }
    let (all, accounts, organisation) = match selection {
        Selection::All => (true, Vec::new(), true),
        Selection::Some {
            accounts,
            organisation,
        } => (false, accounts.clone(), *organisation),
    };
    let contiguous = windows
        .windows(2)
        .all(|pair| pair[0].end == pair[1].start && !pair[0].is_empty());
    let rows: Vec<WindowRow> = if contiguous {
        let plan = contiguous_plan(windows);
        let epoch = DateTime::UNIX_EPOCH.date_naive();
        let (first_day, after_last_day) = plan.rollup_days.unwrap_or((epoch, epoch));
        let empty = Bucket {
            start: windows[0].start,
            end: windows[0].start,
        };
        let leading = plan.raw_ranges.first().copied().unwrap_or(empty);
        let trailing = plan.raw_ranges.get(1).copied().unwrap_or(empty);
        let starts: Vec<DateTime<Utc>> = windows.iter().map(|window| window.start).collect();
        sqlx::query_as(CONTIGUOUS_WINDOWS.as_str())
            .bind(base_keys)
            .bind(all)
            .bind(&accounts)
            .bind(organisation)
            .bind(&starts)
            .bind(windows[windows.len() - 1].end)
            .bind(first_day)
            .bind(after_last_day)
            .bind(leading.start)
            .bind(leading.end)
            .bind(trailing.start)
            .bind(trailing.end)
            .fetch_all(&mut *conn)
            .await?
    } else {
        let pieces = WindowPieces::of(windows);
        sqlx::query_as(SEPARATE_WINDOWS.as_str())
            .bind(base_keys)
            .bind(all)
            .bind(&accounts)
            .bind(organisation)
            .bind(&pieces.first_day)
            .bind(&pieces.after_last_day)
            .bind(&pieces.leading_start)
            .bind(&pieces.leading_end)
            .bind(&pieces.trailing_start)
            .bind(&pieces.trailing_end)
            .fetch_all(&mut *conn)
            .await?
    };
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let window = usize::try_from(row.window).ok()?;
            Some((
                (window, row.metric_key),
                Combined {
                    sum: row.value_sum,
                    count: row.value_count,
                    min: row.value_min,
                    max: row.value_max,
                    last_sum: row.last_sum,
                },
            ))
        })
        .collect())
}

/// The read plan of contiguous windows: rollups for whole days when every
/// boundary between windows falls on a UTC midnight (else a day's rollup
/// would straddle two windows), raw rows for the rest.
fn contiguous_plan(windows: &[Window]) -> buckets::ReadPlan {
    let start = windows[0].start;
    let end = windows[windows.len() - 1].end;
    let at_midnights = windows[1..]
        .iter()
        .all(|window| window.start.time() == chrono::NaiveTime::MIN);
    if at_midnights {
        buckets::read_plan(start, end, buckets::Interval::Whole)
    } else {
        buckets::ReadPlan {
            rollup_days: None,
            raw_ranges: vec![Bucket { start, end }],
        }
    }
}

/// Each separate window's read plan, as parallel arrays for `unnest`.
struct WindowPieces {
    first_day: Vec<NaiveDate>,
    after_last_day: Vec<NaiveDate>,
    leading_start: Vec<DateTime<Utc>>,
    leading_end: Vec<DateTime<Utc>>,
    trailing_start: Vec<DateTime<Utc>>,
    trailing_end: Vec<DateTime<Utc>>,
}

impl WindowPieces {
    fn of(windows: &[Window]) -> WindowPieces {
        let epoch = DateTime::UNIX_EPOCH.date_naive();
        let mut pieces = WindowPieces {
            first_day: Vec::new(),
            after_last_day: Vec::new(),
            leading_start: Vec::new(),
            leading_end: Vec::new(),
            trailing_start: Vec::new(),
            trailing_end: Vec::new(),
        };
        for window in windows {
            let plan = if window.is_empty() {
                buckets::ReadPlan {
                    rollup_days: None,
                    raw_ranges: Vec::new(),
                }
            } else {
                buckets::read_plan(window.start, window.end, buckets::Interval::Whole)
            };
            let (first, after) = plan.rollup_days.unwrap_or((epoch, epoch));
            let empty = Bucket {
                start: window.start,
                end: window.start,
            };
            let leading = plan.raw_ranges.first().copied().unwrap_or(empty);
            let trailing = plan.raw_ranges.get(1).copied().unwrap_or(empty);
            pieces.first_day.push(first);
            pieces.after_last_day.push(after);
            pieces.leading_start.push(leading.start);
            pieces.leading_end.push(leading.end);
            pieces.trailing_start.push(trailing.start);
            pieces.trailing_end.push(trailing.end);
        }
        pieces
    }
}

#[derive(sqlx::FromRow)]
struct WindowRow {
    window: i32,
    metric_key: String,
    value_sum: f64,
    value_count: i64,
    value_min: f64,
    value_max: f64,
    last_sum: f64,
}

/// The selected series, handed to each read as one array (an init plan), so
/// that each read is an index scan per series rather than a join the
/// planner might hash over a whole partition.
const SELECTED: &str = "
with selected as (
    select series_id, metric_key from series
    where metric_key = any($1)
      and ($2 or account_id = any($3) or ($4 and account_id is null))
)";

/// Per series and window, then per window and base metric: each series'
/// latest value in a window is taken with `max` over (microseconds, value)
/// pairs rather than an ordered `array_agg`, which would sort every row.
const COMBINE_PARTS: &str = "
per_series as (
    select series_id, window_index, sum(value_sum) as value_sum, sum(value_count) as value_count,
           min(value_min) as value_min, max(value_max) as value_max,
           (max(array[(extract(epoch from last_observed_at) * 1000000)::float8, last_value]))[2]
               as last_value
    from parts
    group by series_id, window_index
)
select p.window_index as window, s.metric_key, sum(p.value_sum) as value_sum,
       sum(p.value_count)::int8 as value_count, min(p.value_min) as value_min,
       max(p.value_max) as value_max, sum(p.last_value) as last_sum
from per_series p join selected s using (series_id)
where p.window_index >= 0
group by p.window_index, s.metric_key";

/// Contiguous windows (QueryMetric's buckets, or one window) in one pass:
/// whole days from the rollups, the (at most two) raw ranges of the plan
/// from observations, each part assigned its window by `width_bucket` over
/// the window starts. Plain parameters, so the (series, time) index and
/// partition pruning apply.
static CONTIGUOUS_WINDOWS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{SELECTED},
parts as (
    select d.series_id,
           (width_bucket(d.day::timestamp at time zone 'UTC', $5::timestamptz[]) - 1)::int4 as window_index,
           d.value_sum, d.value_count, d.value_min, d.value_max, d.last_value, d.last_observed_at
    from observation_daily d
    where d.series_id = any((select array_agg(series_id) from selected)::int8[])
      and d.day >= $7 and d.day < $8
    union all
    select o.series_id, (width_bucket(o.observed_at, $5::timestamptz[]) - 1)::int4,
           o.value, 1, o.value, o.value, o.value, o.observed_at
    from observation o
    where o.series_id = any((select array_agg(series_id) from selected)::int8[])
      and ((o.observed_at >= $9 and o.observed_at < $10) or (o.observed_at >= $11 and o.observed_at < $12))
      and o.observed_at < $6
),
{COMBINE_PARTS}"
    )
});

/// Windows that overlap or leave gaps (a key result's current and baseline
/// windows, a forecast's daily samples): each window reads its own whole
/// days and edges.
static SEPARATE_WINDOWS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{SELECTED},
windows as (
    select * from unnest($5::date[], $6::date[], $7::timestamptz[], $8::timestamptz[],
                         $9::timestamptz[], $10::timestamptz[])
        with ordinality as w(first_day, after_last_day, leading_start, leading_end,
                             trailing_start, trailing_end, position)
),
parts as (
    select d.series_id, (w.position - 1)::int4 as window_index,
           d.value_sum, d.value_count, d.value_min, d.value_max, d.last_value, d.last_observed_at
    from windows w
    cross join lateral (
        select * from observation_daily d
        where d.series_id = any((select array_agg(series_id) from selected)::int8[])
          and d.day >= w.first_day and d.day < w.after_last_day
    ) d
    union all
    select o.series_id, (w.position - 1)::int4, o.value, 1, o.value, o.value, o.value, o.observed_at
    from windows w
    cross join lateral (
        select o.series_id, o.observed_at, o.value from observation o
        where o.series_id = any((select array_agg(series_id) from selected)::int8[])
          and ((o.observed_at >= w.leading_start and o.observed_at < w.leading_end)
            or (o.observed_at >= w.trailing_start and o.observed_at < w.trailing_end))
    ) o
),
{COMBINE_PARTS}"
    )
});

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn trailing_windows_count_their_end_and_not_their_start() {
        let window = Window::trailing(at("2026-04-01T12:00:00Z"), TimeDelta::days(7));
        assert_eq!(window.start, at("2026-03-25T12:00:00.000001Z"));
        assert_eq!(window.end, at("2026-04-01T12:00:00.000001Z"));
    }

    #[test]
    fn closed_windows_count_both_ends() {
        let window = Window::closed(at("2026-01-01T00:00:00Z"), at("2026-04-01T00:00:00Z"));
        assert_eq!(window.start, at("2026-01-01T00:00:00Z"));
        assert_eq!(window.end, at("2026-04-01T00:00:00.000001Z"));
    }

    #[test]
    fn sub_microsecond_moments_are_cut_to_the_stored_resolution() {
        let window = Window::trailing(at("2026-04-01T12:00:00.0000019Z"), TimeDelta::days(1));
        assert_eq!(window.end, at("2026-04-01T12:00:00.000002Z"));
        assert_eq!(window.start, at("2026-03-31T12:00:00.000002Z"));
    }

    #[test]
    fn selections_from_lists() {
        assert_eq!(Selection::from_list([]), Selection::All);
        let a = Uuid::from_u128(2);
        let b = Uuid::from_u128(1);
        assert_eq!(
            Selection::from_list([Some(a), None, Some(b), Some(a)]),
            Selection::Some {
                accounts: vec![b, a],
                organisation: true
            }
        );
    }

    #[test]
    fn contiguous_windows_use_rollups_only_when_cut_at_midnights() {
        let days = [
            Window::half_open(at("2026-03-01T06:00:00Z"), at("2026-03-02T00:00:00Z")),
            Window::half_open(at("2026-03-02T00:00:00Z"), at("2026-03-04T00:00:00Z")),
        ];
        let plan = contiguous_plan(&days);
        assert_eq!(
            plan.rollup_days,
            Some((
                at("2026-03-02T00:00:00Z").date_naive(),
                at("2026-03-04T00:00:00Z").date_naive()
            ))
        );
        let hours = [
            Window::half_open(at("2026-03-01T00:00:00Z"), at("2026-03-01T01:00:00Z")),
            Window::half_open(at("2026-03-01T01:00:00Z"), at("2026-03-03T00:00:00Z")),
        ];
        assert_eq!(contiguous_plan(&hours).rollup_days, None);
    }
}
