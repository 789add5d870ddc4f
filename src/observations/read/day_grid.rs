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
use sqlx::PgConnection;

use super::buckets::{self, Bucket};
use super::combine::Combined;
use super::evaluate::{Selection, Window};
use crate::error::ApiError;

/// What one window reads: whole days and up to two raw edges.
struct WindowReads {
    days: Option<(NaiveDate, NaiveDate)>,
    raw: Vec<Bucket>,
}

/// The combined aggregates of `keys` per (window index, key).
pub async fn combine(
    conn: &mut PgConnection,
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
    let grid = read_days(conn, keys, selection, &day_ranges).await?;
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
    let edges = read_raw(conn, keys, selection, &raw_ranges).await?;

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

#[derive(sqlx::FromRow)]
struct DayRow {
    metric_key: String,
    day: NaiveDate,
    value_sum: f64,
    value_count: i64,
    value_min: f64,
    value_max: f64,
    last_observed_at: DateTime<Utc>,
    first_observed_at: DateTime<Utc>,
}

/// Every selected series of each key combined per day, over `ranges`.
async fn read_days(
    conn: &mut PgConnection,
    keys: &[&str],
    selection: &Selection,
    ranges: &[(NaiveDate, NaiveDate)],
) -> Result<FxHashMap<String, BTreeMap<NaiveDate, DayRollup>>, ApiError> {
    if ranges.is_empty() {
        return Ok(FxHashMap::default());
    }
    let firsts: Vec<NaiveDate> = ranges.iter().map(|range| range.0).collect();
    let afters: Vec<NaiveDate> = ranges.iter().map(|range| range.1).collect();
    let rows: Vec<DayRow> = match selection {
        Selection::All => read_organisation_days(conn, keys, ranges)
            .await?
            .into_iter()
            .map(|row| DayRow {
                metric_key: row.metric_key,
                day: row.day,
                value_sum: row.value_sum,
                value_count: row.value_count,
                value_min: row.value_min,
                value_max: row.value_max,
                last_observed_at: row.last_observed_at,
                first_observed_at: row.first_observed_at,
            })
            .collect(),
        Selection::Some {
            accounts,
            organisation,
        } => {
            sqlx::query_as(
                "with selected as (
                     select series_id, metric_key from series
                     where metric_key = any($1)
                       and (account_id = any($2) or ($3 and account_id is null))
                 )
                 select s.metric_key, d.day, sum(d.value_sum) as value_sum,
                        sum(d.value_count)::int8 as value_count,
                        min(d.value_min) as value_min, max(d.value_max) as value_max,
                        max(d.last_observed_at) as last_observed_at,
                        min(d.first_observed_at) as first_observed_at
                 from unnest($4::date[], $5::date[]) as r(first_day, after_last_day)
                 cross join lateral (
                     select * from observation_daily d
                     where d.series_id = any((select array_agg(series_id) from selected)::int8[])
                       and d.day >= r.first_day and d.day < r.after_last_day
                 ) d
                 join selected s using (series_id)
                 group by s.metric_key, d.day",
            )
            .bind(keys)
            .bind(accounts)
            .bind(organisation)
            .bind(&firsts)
            .bind(&afters)
            .fetch_all(&mut *conn)
            .await?
        }
    };
    let mut grid: FxHashMap<String, BTreeMap<NaiveDate, DayRollup>> = FxHashMap::default();
    for row in rows {
        grid.entry(row.metric_key).or_default().insert(
            row.day,
            DayRollup {
                combined: Combined::composable(
                    row.value_sum,
                    row.value_count,
                    row.value_min,
                    row.value_max,
                    row.last_observed_at,
                ),
                first_at: row.first_observed_at,
            },
        );
    }
    Ok(grid)
}

#[derive(sqlx::FromRow)]
struct EdgeRow {
    range_index: i32,
    metric_key: String,
    value_sum: f64,
    value_count: i64,
    value_min: f64,
    value_max: f64,
    last_observed_at: DateTime<Utc>,
}

/// Every selected series of each key combined per raw range. A window has
/// at most two ranges, and windows cut at midnights none: a few ranges are
/// read one statement each, their bounds plain parameters so PostgreSQL
/// prunes the yearly partitions to one before it plans (planning all of
/// them costs more than reading an edge); more (a history's steps at
/// midnights that hold observations) in one statement, pruned as each range
/// is read.
async fn read_raw(
    conn: &mut PgConnection,
    keys: &[&str],
    selection: &Selection,
    ranges: &[Bucket],
) -> Result<FxHashMap<(usize, String), Combined>, ApiError> {
    let (all, accounts, organisation) = selection.as_parameters();
    let statements: &Statements = if all {
        &RAW_OVER_EVERY_ACCOUNT
    } else {
        &RAW_OVER_SOME_ACCOUNTS
    };
    let mut rows: Vec<EdgeRow> = Vec::new();
    if ranges.len() <= ONE_BY_ONE {
        for (index, range) in ranges.iter().enumerate() {
            let found: Vec<EdgeRow> = sqlx::query_as(&statements.one)
                .bind(keys)
                .bind(accounts)
                .bind(organisation)
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
        rows = sqlx::query_as(&statements.many)
            .bind(keys)
            .bind(accounts)
            .bind(organisation)
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
            Some((
                (usize::try_from(row.range_index).ok()?, row.metric_key),
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
    /// `range_index`, `start_at` and `end_at`, given as `$4` to `$6`, and
    /// which adds the second argument to its conditions on `o`: none for
    /// one range, the span of them all (`$7`, `$8`) for many, so that
    /// planning covers only the partitions that span reaches. The keys,
    /// accounts and whether the organisation-wide series counts are `$1` to
    /// `$3`.
    fn raw_ranges(select: impl Fn(&str, &str) -> String) -> Statements {
        Statements {
            one: select("(select $4::int4, $5::timestamptz, $6::timestamptz)", ""),
            many: select(
                "unnest($4::int4[], $5::timestamptz[], $6::timestamptz[])",
                "and o.observed_at >= $7 and o.observed_at < $8",
            ),
        }
    }
}

/// The aggregates of one range's observations.
const RANGE_AGGREGATES: &str = "sum(o.value) as value_sum, count(*)::int8 as value_count,
       min(o.value) as value_min, max(o.value) as value_max,
       max(o.observed_at) as last_observed_at";

/// Raw ranges over every series of each key: one range of the (metric,
/// time) index each, whatever the number of accounts. The accounts (`$2`,
/// `$3`) are not needed, only bound alike.
static RAW_OVER_EVERY_ACCOUNT: LazyLock<Statements> = LazyLock::new(|| {
    Statements::raw_ranges(|ranges, span| {
        format!(
            "select r.range_index, m.metric_key, e.value_sum, e.value_count, e.value_min,
                    e.value_max, e.last_observed_at
             from {ranges} as r(range_index, start_at, end_at)
             cross join metric_definition m
             cross join lateral (
                 select {RANGE_AGGREGATES}
                 from observation o
                 where o.metric_id = m.metric_id
                   and o.observed_at >= r.start_at and o.observed_at < r.end_at {span}
                 having count(*) > 0
             ) e
             where m.metric_key = any($1) and cardinality($2::uuid[]) >= 0 and $3::bool is not null"
        )
    })
});

/// Raw ranges over the selected series of each key: an index probe per
/// series and range.
static RAW_OVER_SOME_ACCOUNTS: LazyLock<Statements> = LazyLock::new(|| {
    Statements::raw_ranges(|ranges, span| {
        format!(
            "with selected as (
                 select series_id, metric_key from series
                 where metric_key = any($1)
                   and (account_id = any($2) or ($3 and account_id is null))
             )
             select r.range_index, s.metric_key, {RANGE_AGGREGATES}
             from {ranges} as r(range_index, start_at, end_at)
             cross join lateral (
                 select o.series_id, o.value, o.observed_at from observation o
                 where o.series_id = any((select array_agg(series_id) from selected)::int8[])
                   and o.observed_at >= r.start_at and o.observed_at < r.end_at {span}
             ) o
             join selected s using (series_id)
             group by r.range_index, s.metric_key"
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
