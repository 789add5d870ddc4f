//! Windows of composable aggregates (SUM, AVG, MIN, MAX) read as a grid of
//! days: every whole UTC day any window needs is read once, already
//! combined across the selected series (from the organisation-level rollups
//! when every series is selected, one row per metric and day), and each
//! window then folds its own days and its raw edges. Many overlapping
//! windows (a forecast's daily samples, a history's steps) so cost the days
//! they span, not the days of each window again.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{DateTime, Days, NaiveDate, Utc};
use rustc_hash::FxHashMap;
use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use sqlx::{PgConnection, Postgres};

use super::buckets::{self, Bucket};
use super::combine::Combined;
use super::evaluate::{Selection, Window};
use super::selected::{SelectedSeries, SeriesCache};
use crate::error::ApiError;

/// What one window reads: whole days and up to two raw edges.
struct WindowReads {
    days: Option<(NaiveDate, NaiveDate)>,
    raw: Vec<Bucket>,
}

/// The combined aggregates of `keys` per (window index, key).
pub async fn combine(
    conn: &mut PgConnection,
    cache: &SeriesCache,
    keys: &[&str],
    selection: &Selection,
    windows: &[Window],
) -> Result<FxHashMap<(usize, String), Combined>, ApiError> {
    let mut reads: Vec<WindowReads> = windows
        .iter()
        .map(|window| {
            if window.is_empty() {
                return WindowReads {
                    days: None,
                    raw: Vec::new(),
                };
            }
            let plan = buckets::read_plan(window.start, window.end, buckets::Interval::Whole);
            WindowReads {
                days: plan.rollup_days,
                raw: plan.raw_ranges,
            }
        })
        .collect();
    // A raw range inside one day is read with the days: when the day's
    // observations all fall inside it (a step at a midnight, cut 1 µs after
    // it; a window ending now, after today's newest value), the day's
    // rollup is the range, and when none does, the range holds nothing.
    let edge_days = reads
        .iter()
        .flat_map(|read| &read.raw)
        .filter_map(|range| range.day())
        .map(|day| (day, day + Days::new(1)));
    let day_ranges = coalesce(
        reads
            .iter()
            .filter_map(|read| read.days)
            .chain(edge_days)
            .collect(),
    );
    // A selection of accounts is looked up once for the days and the edges,
    // and not at all when every window is empty.
    let reads_anything = !day_ranges.is_empty() || reads.iter().any(|read| !read.raw.is_empty());
    let series = match selection {
        Selection::Some { .. } if reads_anything => {
            Some(SelectedSeries::resolve(conn, cache, keys, selection).await?)
        }
        // Nothing is read, so the empty selection stands in for it.
        Selection::Some { .. } => Some(SelectedSeries::default()),
        Selection::All => None,
    };
    let grid = read_days(conn, keys, series.as_ref(), &day_ranges).await?;
    for read in &mut reads {
        let mut whole_days = Vec::new();
        read.raw
            .retain(|range| match served_by_rollups(&grid, keys, range) {
                Served::Raw => true,
                Served::Nothing => false,
                Served::WholeDay(day) => {
                    whole_days.push(day);
                    false
                }
            });
        for day in whole_days {
            // The range was the window's edge, so its day adjoins the
            // window's whole days.
            read.days = Some(match read.days {
                Some((first, after)) => (first.min(day), after.max(day + Days::new(1))),
                None => (day, day + Days::new(1)),
            });
        }
    }
    // Each distinct range once, by its index in the read.
    let mut raw_ranges: Vec<Bucket> = Vec::new();
    let mut range_index: FxHashMap<Bucket, usize> = FxHashMap::default();
    for range in reads.iter().flat_map(|read| &read.raw) {
        range_index.entry(*range).or_insert_with(|| {
            raw_ranges.push(*range);
            raw_ranges.len() - 1
        });
    }
    let edges = read_raw(conn, keys, series.as_ref(), &raw_ranges).await?;

    let mut combined = FxHashMap::default();
    for (index, read) in reads.iter().enumerate() {
        for key in keys {
            let mut total: Option<Combined> = None;
            if let (Some((first, after)), Some(days)) = (read.days, grid.get(*key)) {
                for day in days.range(first..after).map(|(_, day)| day.combined) {
                    total = Some(total.map_or(day, |so_far| so_far.merge(day)));
                }
            }
            for range in &read.raw {
                let index = range_index.get(range);
                if let Some(edge) = index.and_then(|at| edges.get(&(*at, (*key).to_owned()))) {
                    total = Some(total.map_or(*edge, |so_far| so_far.merge(*edge)));
                }
            }
            if let Some(total) = total {
                combined.insert((index, (*key).to_owned()), total);
            }
        }
    }
    Ok(combined)
}

/// How a raw range inside one day can be read.
enum Served {
    /// From raw rows.
    Raw,
    /// Not at all: no key has an observation of the day inside it.
    Nothing,
    /// From the day's rollups: every observation of the day of each key
    /// that has any lies inside it.
    WholeDay(NaiveDate),
}

fn served_by_rollups(
    grid: &FxHashMap<String, BTreeMap<NaiveDate, DayRollup>>,
    keys: &[&str],
    range: &Bucket,
) -> Served {
    let Some(day) = range.day() else {
        return Served::Raw;
    };
    let (mut any_inside, mut all_inside) = (false, true);
    for key in keys {
        let Some(rollup) = grid.get(*key).and_then(|days| days.get(&day)) else {
            continue;
        };
        let first = rollup.first_at;
        let last = rollup.combined.last_at.unwrap_or(first);
        if first >= range.end || last < range.start {
            // Nothing of this key's day inside the range.
            all_inside = false;
        } else if first >= range.start && last < range.end {
            any_inside = true;
        } else {
            return Served::Raw;
        }
    }
    match (any_inside, all_inside) {
        (false, _) => Served::Nothing,
        (true, true) => Served::WholeDay(day),
        (true, false) => Served::Raw,
    }
}

/// A day's rollup of the selected series of one key.
#[derive(Debug, Clone, Copy)]
struct DayRollup {
    combined: Combined,
    /// When the day's first value was observed.
    first_at: DateTime<Utc>,
}

/// Day ranges `[first, after)` merged where they overlap or touch, sorted.
pub(super) fn coalesce(mut ranges: Vec<(NaiveDate, NaiveDate)>) -> Vec<(NaiveDate, NaiveDate)> {
    ranges.sort();
    let mut merged: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for (first, after) in ranges {
        match merged.last_mut() {
            Some(last) if first <= last.1 => last.1 = last.1.max(after),
            _ => merged.push((first, after)),
        }
    }
    merged
}

/// A metric's day across every series: the organisation-level rollup.
#[derive(sqlx::FromRow, Clone)]
pub(super) struct OrganisationDay {
    pub metric_key: String,
    pub day: NaiveDate,
    pub value_sum: f64,
    pub value_count: i64,
    pub value_min: f64,
    pub value_max: f64,
    /// Each series' last value of the day, added up.
    pub last_sum: f64,
    /// How many series observed the day before were not on the day.
    pub departures: i64,
    pub last_observed_at: DateTime<Utc>,
    pub first_observed_at: DateTime<Utc>,
}

/// The organisation-level rollups of `keys` over day ranges `[first, after)`.
pub(super) async fn read_organisation_days(
    conn: &mut PgConnection,
    keys: &[&str],
    ranges: &[(NaiveDate, NaiveDate)],
) -> Result<Vec<OrganisationDay>, ApiError> {
    let firsts: Vec<NaiveDate> = ranges.iter().map(|range| range.0).collect();
    let afters: Vec<NaiveDate> = ranges.iter().map(|range| range.1).collect();
    Ok(sqlx::query_as(
        "select g.metric_key, g.day, g.value_sum, g.value_count, g.value_min, g.value_max,
                g.last_sum, g.departures, g.last_observed_at, g.first_observed_at
         from unnest($2::date[], $3::date[]) as r(first_day, after_last_day)
         join observation_daily_organisation g
             on g.metric_key = any($1) and g.day >= r.first_day and g.day < r.after_last_day",
    )
    .bind(keys)
    .bind(&firsts)
    .bind(&afters)
    .fetch_all(&mut *conn)
    .await?)
}

/// A day of the selected series of one key, the key given by its index.
#[derive(sqlx::FromRow)]
struct SelectedDayRow {
    key_index: i32,
    day: NaiveDate,
    value_sum: f64,
    value_count: i64,
    value_min: f64,
    value_max: f64,
    last_observed_at: DateTime<Utc>,
    first_observed_at: DateTime<Utc>,
}

impl DayRollup {
    fn new(
        value_sum: f64,
        value_count: i64,
        value_min: f64,
        value_max: f64,
        last_observed_at: DateTime<Utc>,
        first_observed_at: DateTime<Utc>,
    ) -> DayRollup {
        DayRollup {
            combined: Combined::composable(
                value_sum,
                value_count,
                value_min,
                value_max,
                last_observed_at,
            ),
            first_at: first_observed_at,
        }
    }
}

/// The selected series of each key combined per day, over `ranges`: every
/// series (the organisation rollups) when `series` is `None`.
async fn read_days(
    conn: &mut PgConnection,
    keys: &[&str],
    series: Option<&SelectedSeries>,
    ranges: &[(NaiveDate, NaiveDate)],
) -> Result<FxHashMap<String, BTreeMap<NaiveDate, DayRollup>>, ApiError> {
    let mut grid: FxHashMap<String, BTreeMap<NaiveDate, DayRollup>> = FxHashMap::default();
    if ranges.is_empty() || series.is_some_and(SelectedSeries::is_empty) {
        return Ok(grid);
    }
    let Some(series) = series else {
        for row in read_organisation_days(conn, keys, ranges).await? {
            let rollup = DayRollup::new(
                row.value_sum,
                row.value_count,
                row.value_min,
                row.value_max,
                row.last_observed_at,
                row.first_observed_at,
            );
            grid.entry(row.metric_key)
                .or_default()
                .insert(row.day, rollup);
        }
        return Ok(grid);
    };
    let firsts: Vec<NaiveDate> = ranges.iter().map(|range| range.0).collect();
    let afters: Vec<NaiveDate> = ranges.iter().map(|range| range.1).collect();
    let rows: Vec<SelectedDayRow> = sqlx::query_as(
        "select s.key_index, d.day, sum(d.value_sum) as value_sum,
                sum(d.value_count)::int8 as value_count,
                min(d.value_min) as value_min, max(d.value_max) as value_max,
                max(d.last_observed_at) as last_observed_at,
                min(d.first_observed_at) as first_observed_at
         from unnest($3::date[], $4::date[]) as r(first_day, after_last_day)
         cross join unnest($1::int8[], $2::int4[]) as s(series_id, key_index)
         join observation_daily d
             on d.series_id = s.series_id
            and d.day >= r.first_day and d.day < r.after_last_day
         group by s.key_index, d.day",
    )
    .bind(&series.ids)
    .bind(&series.key_index)
    .bind(&firsts)
    .bind(&afters)
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        let Some(key) = usize::try_from(row.key_index)
            .ok()
            .and_then(|index| keys.get(index))
        else {
            continue;
        };
        grid.entry((*key).to_owned()).or_default().insert(
            row.day,
            DayRollup::new(
                row.value_sum,
                row.value_count,
                row.value_min,
                row.value_max,
                row.last_observed_at,
                row.first_observed_at,
            ),
        );
    }
    Ok(grid)
}

#[derive(sqlx::FromRow)]
struct EdgeRow {
    range_index: i32,
    key_index: i32,
    value_sum: f64,
    value_count: i64,
    value_min: f64,
    value_max: f64,
    last_observed_at: DateTime<Utc>,
}

/// A statement of raw range reads with its leading parameters bound.
type EdgeQuery<'q> = QueryAs<'q, Postgres, EdgeRow, PgArguments>;

/// The selected series of each key combined per raw range: every series
/// when `series` is `None`. A window has at most two ranges, and windows cut
/// at midnights none: a few ranges are read one statement each, their
/// bounds plain parameters so PostgreSQL prunes the yearly partitions to one
/// before it plans (planning all of them costs more than reading an edge);
/// more (a history's steps at midnights that hold observations) in one
/// statement, pruned as each range is read.
async fn read_raw(
    conn: &mut PgConnection,
    keys: &[&str],
    series: Option<&SelectedSeries>,
    ranges: &[Bucket],
) -> Result<FxHashMap<(usize, String), Combined>, ApiError> {
    if series.is_some_and(SelectedSeries::is_empty) {
        return Ok(FxHashMap::default());
    }
    // The statement of the selection, with its leading parameters bound:
    // the keys, or the series and their keys.
    let statement = |many: bool| -> EdgeQuery<'_> {
        let pick = |statements: &'static Statements| {
            if many {
                &statements.many
            } else {
                &statements.one
            }
        };
        match series {
            None => sqlx::query_as(pick(&RAW_OVER_EVERY_ACCOUNT)).bind(keys),
            Some(series) => sqlx::query_as(pick(&RAW_OVER_SELECTED_SERIES))
                .bind(&series.ids)
                .bind(&series.key_index),
        }
    };
    let mut rows: Vec<EdgeRow> = Vec::new();
    if ranges.len() <= ONE_BY_ONE {
        for (index, range) in ranges.iter().enumerate() {
            let found = statement(false)
                .bind(i32::try_from(index).unwrap_or(i32::MAX))
                .bind(range.start)
                .bind(range.end)
                .fetch_all(&mut *conn)
                .await?;
            rows.extend(found);
        }
    } else {
        let indices: Vec<i32> = (0..ranges.len())
            .map(|index| i32::try_from(index).unwrap_or(i32::MAX))
            .collect();
        rows = statement(true)
            .bind(indices)
            .bind(ranges.iter().map(|range| range.start).collect::<Vec<_>>())
            .bind(ranges.iter().map(|range| range.end).collect::<Vec<_>>())
            .bind(ranges.iter().map(|range| range.start).min())
            .bind(ranges.iter().map(|range| range.end).max())
            .fetch_all(&mut *conn)
            .await?;
    }
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let key = keys.get(usize::try_from(row.key_index).ok()?)?;
            Some((
                (usize::try_from(row.range_index).ok()?, (*key).to_owned()),
                Combined::composable(
                    row.value_sum,
                    row.value_count,
                    row.value_min,
                    row.value_max,
                    row.last_observed_at,
                ),
            ))
        })
        .collect())
}

/// Up to this many items (raw ranges, windows with raw edges, cut parts)
/// are read one statement each, in [`Statements::one`]'s form; more in
/// one statement, in [`Statements::many`]'s, which costs more to plan (its
/// items' bounds are arrays; only the span of them all prunes partitions
/// before it runs), so that a history's steps read it and a single answer's
/// few windows do not.
pub(super) const ONE_BY_ONE: usize = 12;

/// One read in two forms: `one` for a single item whose values are plain
/// parameters (PostgreSQL then prunes the yearly partitions before it plans,
/// cheaper than planning every partition), `many` for arrays of them (one
/// statement for many items, pruned as each item is read).
pub(super) struct Statements {
    pub one: String,
    pub many: String,
}

impl Statements {
    /// Raw range reads around `select`, whose ranges are a `from` item with
    /// `range_index`, `start_at` and `end_at`, given as the three parameters
    /// after the `leading` ones, and which adds the second argument to its
    /// conditions on `o`: none for one range, the span of them all (the two
    /// parameters after those) for many, so that planning covers only the
    /// partitions that span reaches.
    fn raw_ranges(leading: usize, select: impl Fn(&str, &str) -> String) -> Statements {
        let [index, start, end, span_start, span_end] =
            std::array::from_fn(|at| format!("${}", leading + at + 1));
        Statements {
            one: select(
                &format!("(select {index}::int4, {start}::timestamptz, {end}::timestamptz)"),
                "",
            ),
            many: select(
                &format!("unnest({index}::int4[], {start}::timestamptz[], {end}::timestamptz[])"),
                &format!("and o.observed_at >= {span_start} and o.observed_at < {span_end}"),
            ),
        }
    }
}

/// The aggregates of one range's observations.
const RANGE_AGGREGATES: &str = "sum(o.value) as value_sum, count(*)::int8 as value_count,
       min(o.value) as value_min, max(o.value) as value_max,
       max(o.observed_at) as last_observed_at";

/// Raw ranges over every series of each key (`$1`): one range of the
/// (metric, time) index each, whatever the number of accounts.
static RAW_OVER_EVERY_ACCOUNT: LazyLock<Statements> = LazyLock::new(|| {
    Statements::raw_ranges(1, |ranges, span| {
        format!(
            "select r.range_index, (k.position - 1)::int4 as key_index, e.value_sum,
                    e.value_count, e.value_min, e.value_max, e.last_observed_at
             from {ranges} as r(range_index, start_at, end_at)
             cross join unnest($1::text[]) with ordinality as k(metric_key, position)
             join metric_definition m on m.metric_key = k.metric_key
             cross join lateral (
                 select {RANGE_AGGREGATES}
                 from observation o
                 where o.metric_id = m.metric_id
                   and o.observed_at >= r.start_at and o.observed_at < r.end_at {span}
                 having count(*) > 0
             ) e"
        )
    })
});

/// Raw ranges over the selected series (`$1`, their keys' indices `$2`): an
/// index probe per series and range.
static RAW_OVER_SELECTED_SERIES: LazyLock<Statements> = LazyLock::new(|| {
    Statements::raw_ranges(2, |ranges, span| {
        format!(
            "select r.range_index, s.key_index, {RANGE_AGGREGATES}
             from {ranges} as r(range_index, start_at, end_at)
             cross join unnest($1::int8[], $2::int4[]) as s(series_id, key_index)
             join observation o
                 on o.series_id = s.series_id
                and o.observed_at >= r.start_at and o.observed_at < r.end_at {span}
             group by r.range_index, s.key_index"
        )
    })
});

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn overlapping_and_touching_day_ranges_merge() {
        let merged = coalesce(vec![
            (day("2026-03-10"), day("2026-03-20")),
            (day("2026-03-01"), day("2026-03-05")),
            (day("2026-03-05"), day("2026-03-12")),
            (day("2026-04-01"), day("2026-04-02")),
        ]);
        assert_eq!(
            merged,
            [
                (day("2026-03-01"), day("2026-03-20")),
                (day("2026-04-01"), day("2026-04-02")),
            ]
        );
    }
}
