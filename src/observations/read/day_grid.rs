//! Windows of composable aggregates (SUM, AVG, MIN, MAX) read as a grid of
//! days: every whole UTC day any window needs is read once, already
//! combined across the selected series (from the organisation-level rollups
//! when every series is selected, one row per metric and day), and each
//! window then folds its own days and its raw edges. Many overlapping
//! windows (a forecast's daily samples, a history's steps) so cost the days
//! they span, not the days of each window again.
//!
//! Many reads (every key result of a goal, or of a report's goals) are read
//! together: one statement for all their days and one for all their raw
//! edges, whatever their number.

mod edges;
mod sql;

use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate, Utc};
use rustc_hash::{FxHashMap, FxHashSet};
use sqlx::PgConnection;

use super::buckets::{self, Bucket};
use super::combine::Combined;
use super::evaluate::{Selection, Window};
use super::selected::{SelectedSeries, SeriesCache};
use crate::error::ApiError;
pub use edges::EdgeMemo;

/// One read: the combined aggregates of `keys` over `selection` in each of
/// `windows`.
#[derive(Debug, Clone, Copy)]
pub struct GridRead<'a> {
    /// The base metrics, all composable.
    pub keys: &'a [&'a str],
    /// The series read.
    pub selection: &'a Selection,
    /// The windows.
    pub windows: &'a [Window],
}

/// The combined aggregates of a read per (window index, key).
pub type Grid = FxHashMap<(usize, String), Combined>;

/// What one window reads: whole days and up to two raw edges.
struct WindowReads {
    days: Option<(NaiveDate, NaiveDate)>,
    raw: Vec<Bucket>,
}

/// What one read needs: its windows' days and edges, the day ranges that
/// cover them, and its series (`None`: every series, from the
/// organisation rollups).
struct ReadPlan {
    windows: Vec<WindowReads>,
    day_ranges: Vec<(NaiveDate, NaiveDate)>,
    series: Option<SelectedSeries>,
}

/// The combined aggregates of each of `reads`, per (window index, key), in
/// order, in two statements; raw
/// ranges over every series that `edges` holds are not read again.
pub async fn combine_many(
    conn: &mut PgConnection,
    cache: &SeriesCache,
    edges: &EdgeMemo,
    reads: &[GridRead<'_>],
) -> Result<Vec<Grid>, ApiError> {
    let mut plans = Vec::with_capacity(reads.len());
    for read in reads {
        plans.push(plan(conn, cache, read).await?);
    }
    // Groups number each (read, key) across the reads.
    let group_base: Vec<usize> = reads
        .iter()
        .scan(0, |next, read| {
            let base = *next;
            *next += read.keys.len();
            Some(base)
        })
        .collect();
    let grids = read_days(conn, cache, reads, &plans, &group_base).await?;

    // A raw range inside one day is read with the days: when the day's
    // observations all fall inside it (a step at a midnight, cut 1 µs after
    // it; a window ending now, after today's newest value), the day's
    // rollup is the range, and when none does, the range holds nothing.
    for ((read, plan), grid) in reads.iter().zip(&mut plans).zip(&grids) {
        for window in &mut plan.windows {
            let mut whole_days = Vec::new();
            window
                .raw
                .retain(|range| match served_by_rollups(grid, read.keys, range) {
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
                window.days = Some(match window.days {
                    Some((first, after)) => (first.min(day), after.max(day + Days::new(1))),
                    None => (day, day + Days::new(1)),
                });
            }
        }
    }
    // Each read's distinct ranges once, by their index in the read.
    let ranges: Vec<Vec<Bucket>> = plans.iter().map(distinct_ranges).collect();
    let edges = edges::read_raw(conn, edges, reads, &plans, &ranges).await?;

    Ok(reads
        .iter()
        .zip(&plans)
        .zip(&grids)
        .zip(ranges.iter().zip(edges))
        .map(|(((read, plan), days), (ranges, edges))| fold(read, plan, days, ranges, &edges))
        .collect())
}

/// The plan of one read, its series looked up (not at all when every
/// window is empty).
async fn plan(
    conn: &mut PgConnection,
    cache: &SeriesCache,
    read: &GridRead<'_>,
) -> Result<ReadPlan, ApiError> {
    let windows: Vec<WindowReads> = read
        .windows
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
    let edge_days = windows
        .iter()
        .flat_map(|window| &window.raw)
        .filter_map(Bucket::day)
        .map(|day| (day, day + Days::new(1)));
    let day_ranges = coalesce(
        windows
            .iter()
            .filter_map(|window| window.days)
            .chain(edge_days)
            .collect(),
    );
    let reads_anything =
        !day_ranges.is_empty() || windows.iter().any(|window| !window.raw.is_empty());
    let series = match read.selection {
        Selection::Some { .. } if reads_anything => {
            Some(SelectedSeries::resolve(conn, cache, read.keys, read.selection).await?)
        }
        // Nothing is read, so the empty selection stands in for it.
        Selection::Some { .. } => Some(SelectedSeries::default()),
        Selection::All => None,
    };
    Ok(ReadPlan {
        windows,
        day_ranges,
        series,
    })
}

/// A day of one read's key, combined across its series.
#[derive(Debug, Clone, Copy)]
struct DayRollup {
    combined: Combined,
    /// When the day's first value was observed.
    first_at: DateTime<Utc>,
}

/// One read's days per key.
type KeyDays = FxHashMap<String, BTreeMap<NaiveDate, DayRollup>>;

/// Every read's days, in one statement (two when a selection registered
/// since the reader's snapshot began has to be read series by series).
async fn read_days(
    conn: &mut PgConnection,
    cache: &SeriesCache,
    reads: &[GridRead<'_>],
    plans: &[ReadPlan],
    group_base: &[usize],
) -> Result<Vec<KeyDays>, ApiError> {
    // The group of each (read, key), back to the read and the key.
    let groups: Vec<(usize, &str)> = reads
        .iter()
        .enumerate()
        .flat_map(|(index, read)| read.keys.iter().map(move |key| (index, *key)))
        .collect();
    let requests = day_requests(cache, reads, plans, group_base, None);
    let mut rows = sql::read_days(conn, &requests).await?;
    let unregistered: FxHashSet<i32> = rows
        .iter()
        .filter(|row| row.value_count == sql::UNREGISTERED)
        .map(|row| row.grp)
        .collect();
    if !unregistered.is_empty() {
        for (grp, id, _, _) in &requests.selection {
            if unregistered.contains(grp) {
                cache.rollups().forget(*id);
            }
        }
        rows.retain(|row| row.value_count != sql::UNREGISTERED);
        let again = day_requests(cache, reads, plans, group_base, Some(&unregistered));
        rows.extend(sql::read_days(conn, &again).await?);
    }
    let mut grids: Vec<KeyDays> = reads.iter().map(|_| KeyDays::default()).collect();
    for row in rows {
        let Some((read, key)) = usize::try_from(row.grp).ok().and_then(|at| groups.get(at)) else {
            continue;
        };
        let rollup = DayRollup {
            combined: Combined::composable(
                row.value_sum,
                row.value_count,
                row.value_min,
                row.value_max,
                row.last_observed_at,
            ),
            first_at: row.first_observed_at,
        };
        grids[*read]
            .entry((*key).to_owned())
            .or_default()
            .insert(row.day, rollup);
    }
    Ok(grids)
}

/// The day ranges of every read's keys: from the organisation's rollups
/// for every series, a registered selection's own, else each selected
/// series'. With `only`, just those groups, series by series.
fn day_requests(
    cache: &SeriesCache,
    reads: &[GridRead<'_>],
    plans: &[ReadPlan],
    group_base: &[usize],
    only: Option<&FxHashSet<i32>>,
) -> sql::DayRequests {
    let mut requests = sql::DayRequests::default();
    for (index, (read, plan)) in reads.iter().zip(plans).enumerate() {
        let base = group_base[index];
        let wanted =
            |key_index: usize| only.is_none_or(|only| only.contains(&group(base + key_index)));
        let Some(series) = &plan.series else {
            for (key_index, key) in read.keys.iter().enumerate().filter(|(at, _)| wanted(*at)) {
                for (first, after) in &plan.day_ranges {
                    requests.organisation.push((
                        group(base + key_index),
                        (*key).to_owned(),
                        *first,
                        *after,
                    ));
                }
            }
            continue;
        };
        // Keys whose selection has rollups of its own read those.
        let mut own_rollups = vec![false; read.keys.len()];
        if only.is_none()
            && let Selection::Some {
                accounts,
                organisation,
            } = read.selection
        {
            for (key_index, key) in read.keys.iter().enumerate() {
                if let Some(id) = cache.rollups().id(key, accounts, *organisation) {
                    own_rollups[key_index] = true;
                    for (first, after) in &plan.day_ranges {
                        requests
                            .selection
                            .push((group(base + key_index), id, *first, *after));
                    }
                }
            }
        }
        for (id, key_index) in series.ids.iter().zip(&series.key_index) {
            let Ok(key_index) = usize::try_from(*key_index) else {
                continue;
            };
            if own_rollups.get(key_index) == Some(&true) || !wanted(key_index) {
                continue;
            }
            for (first, after) in &plan.day_ranges {
                requests
                    .selected
                    .push((group(base + key_index), *id, *first, *after));
            }
        }
    }
    requests
}

/// An index as the statements' int4.
pub(super) fn group(index: usize) -> i32 {
    i32::try_from(index).unwrap_or(i32::MAX)
}

/// A read's distinct raw ranges, in first-use order.
fn distinct_ranges(plan: &ReadPlan) -> Vec<Bucket> {
    let mut ranges: Vec<Bucket> = Vec::new();
    for range in plan.windows.iter().flat_map(|window| &window.raw) {
        if !ranges.contains(range) {
            ranges.push(*range);
        }
    }
    ranges
}

/// Each window's aggregate per key from its days and its raw edges.
fn fold(
    read: &GridRead<'_>,
    plan: &ReadPlan,
    days: &KeyDays,
    ranges: &[Bucket],
    edges: &Grid,
) -> Grid {
    let mut combined = Grid::default();
    for (index, window) in plan.windows.iter().enumerate() {
        for key in read.keys {
            let mut total: Option<Combined> = None;
            if let (Some((first, after)), Some(days)) = (window.days, days.get(*key)) {
                for day in days.range(first..after).map(|(_, day)| day.combined) {
                    total = Some(total.map_or(day, |so_far| so_far.merge(day)));
                }
            }
            for range in &window.raw {
                let at = ranges.iter().position(|known| known == range);
                if let Some(edge) = at.and_then(|at| edges.get(&(at, (*key).to_owned()))) {
                    total = Some(total.map_or(*edge, |so_far| so_far.merge(*edge)));
                }
            }
            if let Some(total) = total {
                combined.insert((index, (*key).to_owned()), total);
            }
        }
    }
    combined
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

fn served_by_rollups(grid: &KeyDays, keys: &[&str], range: &Bucket) -> Served {
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
