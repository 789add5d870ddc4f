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

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use rustc_hash::FxHashMap;
use sqlx::PgConnection;
use uuid::Uuid;

use super::combine::Combined;
use super::day_grid::{self, EdgeMemo, GridRead};
use super::selected::SeriesCache;
use super::{organisation_last, per_series};
use crate::catalog::formula::{Aggregation, Formula};
use crate::catalog::repo::{Computation, MetricRecord};
use crate::error::ApiError;

/// A time window `[start, end)`, bounds at microsecond resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

    /// Whether no moment counts.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// The UTC day of the last moment that counts.
    pub fn last_day(&self) -> NaiveDate {
        (self.end - MICROSECOND).date_naive()
    }
}

/// Which series a read covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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
    /// The selection as the parameters every read binds: whether every
    /// series counts, the accounts, and whether the organisation-wide
    /// series counts.
    pub fn as_parameters(&self) -> (bool, &[Uuid], bool) {
        match self {
            Selection::All => (true, &[], true),
            Selection::Some {
                accounts,
                organisation,
            } => (false, accounts, *organisation),
        }
    }

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

    /// The base metrics whose aggregates compose across series (all but
    /// LAST): those a day grid reads.
    pub fn composable_keys(&self) -> Vec<&str> {
        self.bases
            .iter()
            .filter(|(_, aggregation)| *aggregation != Aggregation::Last)
            .map(|(key, _)| key.as_str())
            .collect()
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

/// A window's value, and when the newest observation it counts was made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowValue {
    /// The metric's value; `None` is no data.
    pub value: Option<f64>,
    /// When the newest observation of any base metric in the window was
    /// made; `None` when the window holds none.
    pub newest: Option<DateTime<Utc>>,
}

/// The value of `metric` over each of `windows` for `selection`, in the
/// order given; `None` is no data. Run it in a repeatable-read transaction
/// for every window to read the same snapshot.
pub async fn evaluate(
    conn: &mut PgConnection,
    series: &SeriesCache,
    metric: &MetricPlan,
    selection: &Selection,
    windows: &[Window],
) -> Result<Vec<Option<f64>>, ApiError> {
    Ok(evaluate_with_times(
        conn,
        series,
        &EdgeMemo::default(),
        metric,
        selection,
        windows,
    )
    .await?
    .into_iter()
    .map(|window| window.value)
    .collect())
}

/// [`evaluate`], with the time of each window's newest observation; `edges`
/// keeps what was read of every series' raw rows in this snapshot.
pub async fn evaluate_with_times(
    conn: &mut PgConnection,
    series: &SeriesCache,
    edges: &EdgeMemo,
    metric: &MetricPlan,
    selection: &Selection,
    windows: &[Window],
) -> Result<Vec<WindowValue>, ApiError> {
    let read = MetricRead {
        metric,
        selection,
        windows,
    };
    Ok(evaluate_many(conn, series, edges, &[read])
        .await?
        .pop()
        .unwrap_or_default())
}

/// One metric over one selection in some windows: what
/// [`evaluate_many`] evaluates.
#[derive(Debug, Clone, Copy)]
pub struct MetricRead<'a> {
    /// The metric.
    pub metric: &'a MetricPlan,
    /// The series.
    pub selection: &'a Selection,
    /// The windows.
    pub windows: &'a [Window],
}

/// [`evaluate_with_times`] of each of `reads`, in order. Their composable
/// aggregates are read together, two statements for all of them; `edges`
/// keeps what was read of every series' raw rows in this snapshot.
pub async fn evaluate_many(
    conn: &mut PgConnection,
    series: &SeriesCache,
    edges: &EdgeMemo,
    reads: &[MetricRead<'_>],
) -> Result<Vec<Vec<WindowValue>>, ApiError> {
    let splits: Vec<BaseSplit> = reads.iter().map(BaseSplit::of).collect();
    // Every selection's series in one lookup, before the reads that need
    // them: one round trip, not one per read.
    let wanted: Vec<(&[&str], &Selection)> = reads
        .iter()
        .zip(&splits)
        .filter(|(read, _)| !read.windows.iter().all(Window::is_empty))
        .flat_map(|(read, split)| {
            [
                (split.composable.as_slice(), read.selection),
                (split.per_series.as_slice(), read.selection),
            ]
        })
        .filter(|(keys, _)| !keys.is_empty())
        .collect();
    let series = &series.prefetch(conn, &wanted).await?;
    let grid_reads: Vec<GridRead> = reads
        .iter()
        .zip(&splits)
        .filter(|(_, split)| !split.composable.is_empty())
        .map(|(read, split)| GridRead {
            keys: &split.composable,
            selection: read.selection,
            windows: read.windows,
        })
        .collect();
    let mut grids = day_grid::combine_many(conn, series, edges, &grid_reads)
        .await?
        .into_iter();
    let mut values = Vec::with_capacity(reads.len());
    for (read, split) in reads.iter().zip(&splits) {
        let mut combined = if split.composable.is_empty() {
            FxHashMap::default()
        } else {
            grids.next().unwrap_or_default()
        };
        if !split.per_series.is_empty() {
            combined.extend(read_per_series(conn, series, read, split).await?);
        }
        values.push(window_values(read, &combined));
    }
    Ok(values)
}

/// Each window's value and newest observation from its bases' aggregates.
fn window_values(
    read: &MetricRead<'_>,
    combined: &FxHashMap<(usize, String), Combined>,
) -> Vec<WindowValue> {
    let metric = read.metric;
    (0..read.windows.len())
        .map(|index| {
            let of = |key: &str| combined.get(&(index, key.to_owned())).copied();
            WindowValue {
                value: metric.value(of),
                newest: metric
                    .bases
                    .iter()
                    .filter_map(|(key, _)| of(key)?.last_at)
                    .max(),
            }
        })
        .collect()
}

/// How a read's base metrics are read. Composable aggregates as a [day
/// grid](super::day_grid); LAST, which needs each series' own latest
/// value, and windows cut at other moments than midnights (hourly
/// buckets), per series.
struct BaseSplit<'a> {
    composable: Vec<&'a str>,
    per_series: Vec<&'a str>,
    /// Buckets cut at other moments than midnights (hours) cannot use
    /// rollups at all: one pass over their raw rows serves every aggregate.
    cut_within_days: bool,
}

impl<'a> BaseSplit<'a> {
    fn of(read: &MetricRead<'a>) -> BaseSplit<'a> {
        let windows = read.windows;
        let cut_within_days = windows.len() > 1
            && windows.windows(2).all(|pair| pair[0].end == pair[1].start)
            && windows[1..]
                .iter()
                .any(|window| window.start.time() != chrono::NaiveTime::MIN);
        let read_per_series =
            |aggregation: Aggregation| aggregation == Aggregation::Last || cut_within_days;
        let keys_where = |per_series: bool| -> Vec<&'a str> {
            read.metric
                .bases
                .iter()
                .filter(|(_, aggregation)| read_per_series(*aggregation) == per_series)
                .map(|(key, _)| key.as_str())
                .collect()
        };
        BaseSplit {
            composable: keys_where(false),
            per_series: keys_where(true),
            cut_within_days,
        }
    }
}

/// The per-series bases of a read combined per (window index, key): LAST
/// over every account from the organisation rollups where they can tell,
/// the other windows series by series.
async fn read_per_series(
    conn: &mut PgConnection,
    series: &SeriesCache,
    read: &MetricRead<'_>,
    split: &BaseSplit<'_>,
) -> Result<FxHashMap<(usize, String), Combined>, ApiError> {
    let windows = read.windows;
    let mut combined = FxHashMap::default();
    let mut rest: Vec<usize> = (0..windows.len()).collect();
    if *read.selection == Selection::All && !split.cut_within_days {
        let answered = organisation_last::combine(conn, &split.per_series, windows).await?;
        combined.extend(answered.combined);
        rest = answered.rest;
    }
    if !rest.is_empty() {
        let subset: Vec<Window> = rest.iter().map(|index| windows[*index]).collect();
        let found = per_series::combine(
            conn,
            series,
            &split.per_series,
            !split.cut_within_days,
            read.selection,
            &subset,
        )
        .await?;
        combined.extend(
            found
                .into_iter()
                .map(|((index, key), value)| ((rest[index], key), value)),
        );
    }
    Ok(combined)
}

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
}
