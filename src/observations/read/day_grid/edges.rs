//! The raw edges of many reads at once: the partial days at their windows'
//! ends, read from observations in one statement, and the memo that reads
//! each range over every series once per snapshot.

use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;
use sqlx::PgConnection;

use super::super::buckets::Bucket;
use super::super::combine::Combined;
use super::{Grid, GridRead, ReadPlan, group, sql};
use crate::error::ApiError;

/// An every-series raw range of a metric: its key and bounds.
type EveryRange = (String, DateTime<Utc>, DateTime<Utc>);

/// The raw ranges over every series read in one snapshot, by metric and
/// bounds (`None`: nothing there). Reads of many goals (a report) ask for
/// the same few again and again (key results over every account of the
/// same metric and window), and each costs a day's rows of every account,
/// so each is read once per snapshot. Only for reads in one snapshot.
#[derive(Default)]
pub struct EdgeMemo(std::sync::Mutex<FxHashMap<EveryRange, Option<Combined>>>);

/// Ranges an [`EdgeMemo`] keeps at most; past it, it starts over.
const EDGE_MEMO_RANGES: usize = 65_536;

impl EdgeMemo {
    fn get(&self, range: &EveryRange) -> Option<Option<Combined>> {
        self.0.lock().ok()?.get(range).copied()
    }

    fn remember(&self, found: impl Iterator<Item = (EveryRange, Option<Combined>)>) {
        if let Ok(mut ranges) = self.0.lock() {
            for (range, combined) in found {
                if ranges.len() >= EDGE_MEMO_RANGES {
                    ranges.clear();
                }
                ranges.insert(range, combined);
            }
        }
    }
}

/// Every read's raw ranges per (range index, key), in one statement: each
/// distinct range over every series once, and not at all when `memo` holds
/// it.
pub(super) async fn read_raw(
    conn: &mut PgConnection,
    memo: &EdgeMemo,
    reads: &[GridRead<'_>],
    plans: &[ReadPlan],
    ranges: &[Vec<Bucket>],
) -> Result<Vec<Grid>, ApiError> {
    let mut edges: Vec<Grid> = reads.iter().map(|_| Grid::default()).collect();
    let mut requests = sql::RawRequests::default();
    // The part of each selected (read, range), back to them.
    let mut parts: Vec<(usize, usize)> = Vec::new();
    // Every-series ranges: each one's value once known (from the memo, or
    // as read now), those still to read in the order they are asked for,
    // and who needs each.
    let mut known: FxHashMap<EveryRange, Option<Combined>> = FxHashMap::default();
    let mut to_read: Vec<EveryRange> = Vec::new();
    let mut every_wanted: Vec<(EveryRange, usize, usize, &str)> = Vec::new();
    for (index, ((read, plan), ranges)) in reads.iter().zip(plans).zip(ranges).enumerate() {
        for (range_index, range) in ranges.iter().enumerate() {
            match &plan.series {
                None => {
                    for key in read.keys {
                        let wanted: EveryRange = ((*key).to_owned(), range.start, range.end);
                        if !known.contains_key(&wanted) {
                            let remembered = memo.get(&wanted);
                            if remembered.is_none() {
                                to_read.push(wanted.clone());
                            }
                            known.insert(wanted.clone(), remembered.flatten());
                        }
                        every_wanted.push((wanted, index, range_index, key));
                    }
                }
                Some(series) => {
                    let part = group(parts.len());
                    parts.push((index, range_index));
                    requests
                        .selected
                        .extend(
                            series
                                .ids
                                .iter()
                                .zip(&series.key_index)
                                .map(|(id, key_index)| sql::RawRequest {
                                    part,
                                    key_index: *key_index,
                                    series: *id,
                                    start: range.start,
                                    end: range.end,
                                }),
                        );
                }
            }
        }
    }
    requests.every = to_read
        .iter()
        .enumerate()
        .map(|(at, (key, start, end))| sql::RawRequest {
            part: group(at),
            // Tells every-series rows from the selected ones.
            key_index: -1,
            series: key.clone(),
            start: *start,
            end: *end,
        })
        .collect();
    for row in sql::read_raw(conn, &requests).await? {
        let combined = Combined::composable(
            row.value_sum,
            row.value_count,
            row.value_min,
            row.value_max,
            row.last_observed_at,
        );
        let Ok(part) = usize::try_from(row.part) else {
            continue;
        };
        if row.key_index < 0 {
            // An every-series range: its part is its place among them.
            if let Some(range) = to_read.get(part) {
                known.insert(range.clone(), Some(combined));
            }
            continue;
        }
        let Some((read, range_index)) = parts.get(part) else {
            continue;
        };
        let Some(key) = usize::try_from(row.key_index)
            .ok()
            .and_then(|at| reads[*read].keys.get(at))
        else {
            continue;
        };
        edges[*read].insert((*range_index, (*key).to_owned()), combined);
    }
    memo.remember(
        to_read
            .iter()
            .map(|range| (range.clone(), known.get(range).copied().flatten())),
    );
    for (wanted, read, range_index, key) in every_wanted {
        if let Some(Some(combined)) = known.get(&wanted) {
            edges[read].insert((range_index, key.to_owned()), *combined);
        }
    }
    Ok(edges)
}
