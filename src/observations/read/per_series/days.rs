//! LAST of many windows from each series' daily rollups, read once: a
//! series' latest value in a window is the last value of the newest day
//! that has one inside it, which the rollup's last time tells, except on a
//! day whose newest observation lies after the window's end while some
//! earlier one lies inside (a window ending mid-day, before that day's
//! last observation). Only windows with such a day are left to the index
//! probes.
//!
//! A forecast's 28 daily samples, or a history's steps, then cost one range
//! read of each series' days instead of one probe (or three, with edges)
//! per window and series.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use rustc_hash::FxHashMap;
use sqlx::PgConnection;

use super::super::evaluate::Window;
use super::super::selected::SelectedSeries;
use super::WindowRow;
use crate::error::ApiError;

/// The day read pays when it reads at most this many days per window (one
/// probe costs about as much as eight rows of a range, measured), and is
/// skipped past [`MOST_ROWS`] rows in all, so that a read's memory stays
/// bounded whatever the accounts and days.
const DAYS_PER_WINDOW: i64 = 8;
/// The rows a day read may return at most.
const MOST_ROWS: i64 = 100_000;

/// What a series' rollup of one day says about its latest value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeriesDay {
    pub series_id: i64,
    pub day: NaiveDate,
    pub last_value: f64,
    pub last_observed_at: DateTime<Utc>,
    pub first_observed_at: DateTime<Utc>,
}

/// A series' latest observation in a window, as far as its days tell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Latest {
    /// Its value and time.
    Found(f64, DateTime<Utc>),
    /// No observation inside the window.
    Nothing,
    /// A day inside the window was observed after the window's end, so
    /// its rollup does not hold the value the window needs.
    Unknown,
}

/// The latest observation in `window` of a series whose days are `days`,
/// sorted by day.
pub fn latest_in(days: &[SeriesDay], window: &Window) -> Latest {
    if window.is_empty() {
        return Latest::Nothing;
    }
    let first_day = window.start.date_naive();
    let last_day = (window.end - TimeDelta::microseconds(1)).date_naive();
    let from = days.partition_point(|day| day.day < first_day);
    let to = days.partition_point(|day| day.day <= last_day);
    for day in days[from..to].iter().rev() {
        if day.first_observed_at >= window.end {
            // The window's last day, observed only after it ends.
            continue;
        }
        if day.last_observed_at < window.start {
            // The window's first day, observed only before it starts.
            return Latest::Nothing;
        }
        if day.last_observed_at < window.end {
            return Latest::Found(day.last_value, day.last_observed_at);
        }
        return Latest::Unknown;
    }
    Latest::Nothing
}

/// Each window's LAST per base metric from the series' days, read in one
/// statement, and the windows whose value the days cannot tell; `None` when
/// reading the days would cost more than probing.
pub(super) async fn latest_from_days(
    conn: &mut PgConnection,
    series: &SelectedSeries,
    windows: &[Window],
) -> Result<Option<(Vec<WindowRow>, Vec<usize>)>, ApiError> {
    let Some((first, after)) = day_span(windows) else {
        return Ok(Some((Vec::new(), Vec::new())));
    };
    let span = (after - first).num_days();
    let counted = i64::try_from(windows.len()).unwrap_or(i64::MAX);
    let series_count = i64::try_from(series.ids.len()).unwrap_or(i64::MAX);
    if span > DAYS_PER_WINDOW.saturating_mul(counted)
        || span.saturating_mul(series_count) > MOST_ROWS
    {
        return Ok(None);
    }
    // Decoded as tuples, by position: several times cheaper per row than
    // by column name, and these reads return hundreds of rows.
    type Row = (i64, NaiveDate, f64, DateTime<Utc>, DateTime<Utc>);
    let rows: Vec<Row> = sqlx::query_as(
        "select series_id, day, last_value, last_observed_at, first_observed_at
         from observation_daily
         where series_id = any($1) and day >= $2 and day < $3
         order by series_id, day",
    )
    .bind(&series.ids)
    .bind(first)
    .bind(after)
    .fetch_all(&mut *conn)
    .await?;
    let days: Vec<SeriesDay> = rows
        .into_iter()
        .map(
            |(series_id, day, last_value, last_observed_at, first_observed_at)| SeriesDay {
                series_id,
                day,
                last_value,
                last_observed_at,
                first_observed_at,
            },
        )
        .collect();
    Ok(Some(resolve(series, &days, windows)))
}

/// The days `[first, after)` that the non-empty windows touch.
fn day_span(windows: &[Window]) -> Option<(NaiveDate, NaiveDate)> {
    let touched = windows.iter().filter(|window| !window.is_empty());
    let first = touched.clone().map(|window| window.start).min()?;
    let end = touched.map(|window| window.end).max()?;
    let last = (end - TimeDelta::microseconds(1)).date_naive();
    Some((first.date_naive(), last.succ_opt()?))
}

/// Each window's rows per base metric from the series' `days` (sorted by
/// series and day), and the windows some series leaves unknown.
fn resolve(
    series: &SelectedSeries,
    days: &[SeriesDay],
    windows: &[Window],
) -> (Vec<WindowRow>, Vec<usize>) {
    let mut by_series: FxHashMap<i64, &[SeriesDay]> = FxHashMap::default();
    let mut rest = days;
    while let Some(first) = rest.first() {
        let run = rest.partition_point(|day| day.series_id == first.series_id);
        by_series.insert(first.series_id, &rest[..run]);
        rest = &rest[run..];
    }
    let mut rows = Vec::new();
    let mut unknown = Vec::new();
    for (index, window) in windows.iter().enumerate() {
        let mut per_key: FxHashMap<i32, WindowRow> = FxHashMap::default();
        let mut known = true;
        for (id, key_index) in series.ids.iter().zip(&series.key_index) {
            let days = by_series.get(id).copied().unwrap_or_default();
            match latest_in(days, window) {
                Latest::Found(value, at) => add(&mut per_key, index, *key_index, value, at),
                Latest::Nothing => {}
                Latest::Unknown => {
                    known = false;
                    break;
                }
            }
        }
        if known {
            rows.extend(per_key.into_values());
        } else {
            unknown.push(index);
        }
    }
    (rows, unknown)
}

/// Adds one series' latest value to its window's row of its base metric.
fn add(
    per_key: &mut FxHashMap<i32, WindowRow>,
    window: usize,
    key_index: i32,
    value: f64,
    at: DateTime<Utc>,
) {
    let row = per_key.entry(key_index).or_insert(WindowRow {
        window: i32::try_from(window).unwrap_or(i32::MAX),
        key_index,
        value_sum: 0.0,
        value_count: 0,
        value_min: value,
        value_max: value,
        last_sum: 0.0,
        last_observed_at: Some(at),
    });
    row.value_sum += value;
    row.value_count += 1;
    row.value_min = row.value_min.min(value);
    row.value_max = row.value_max.max(value);
    row.last_sum += value;
    row.last_observed_at = row.last_observed_at.max(Some(at));
}

#[cfg(test)]
mod tests;
