//! LAST of many windows from each series' daily rollups, read once: a
//! series' latest value in a window is the last value of the newest day
//! that has one inside it, which the rollup's last time tells. A window
//! that ends inside a day (at a moment asked for, or a baseline's end) has
//! that day read up to its end by one index probe per series, in the same
//! statement. What is left is a day observed on both sides of a window's
//! end that was not cut (a history's step at a midnight over a day observed
//! at that midnight and later): only windows with such a day are probed
//! afterwards.
//!
//! A forecast's 28 daily samples, or a history's steps, then cost one range
//! read of each series' days instead of one probe (or three, with edges)
//! per window and series.

use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use rustc_hash::FxHashMap;
use sqlx::PgConnection;

use super::super::ONE_BY_ONE;
use super::super::buckets::midnight;
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
/// sorted by day. `cut` is the window's last day as read up to the window's
/// end, when it was (`Some(None)`: nothing there before the end).
pub fn latest_in(days: &[SeriesDay], window: &Window, cut: Option<Option<&SeriesDay>>) -> Latest {
    if window.is_empty() {
        return Latest::Nothing;
    }
    let first_day = window.start.date_naive();
    let last_day = window.last_day();
    let from = days.partition_point(|day| day.day < first_day);
    let (whole, last) = match cut {
        None => (
            &days[from..days.partition_point(|day| day.day <= last_day)],
            None,
        ),
        Some(part) => (
            &days[from..days.partition_point(|day| day.day < last_day)],
            part,
        ),
    };
    for day in last.into_iter().chain(whole.iter().rev()) {
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

/// The windows that end inside a day rather than at (or just after) a
/// midnight: their last day is read up to their end in the same statement,
/// as its rollup cannot tell what came before the end. A history's steps
/// end 1 µs after a midnight and are left to the rollups (and, rarely, the
/// probes), else they would cost a probe per step and series.
fn cut_ends(windows: &[Window]) -> Vec<DateTime<Utc>> {
    let mut ends: Vec<DateTime<Utc>> = Vec::new();
    for window in windows.iter().filter(|window| !window.is_empty()) {
        let into_day = window.end - midnight(window.end.date_naive());
        if into_day > TimeDelta::microseconds(1) && !ends.contains(&window.end) {
            ends.push(window.end);
        }
    }
    if ends.len() > ONE_BY_ONE {
        ends.clear();
    }
    ends
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
    let ends = cut_ends(windows);
    // Decoded as tuples, by position: several times cheaper per row than
    // by column name, and these reads return hundreds of rows.
    type Row = (i64, NaiveDate, f64, DateTime<Utc>, DateTime<Utc>, i32);
    let mut query = sqlx::query_as(if ends.is_empty() {
        DAYS
    } else {
        DAYS_AND_CUTS.as_str()
    })
    .bind(&series.ids)
    .bind(first)
    .bind(after);
    if let (Some(span_start), Some(span_end)) = (
        ends.iter().map(|end| midnight(end.date_naive())).min(),
        ends.iter().max(),
    ) {
        let days: Vec<NaiveDate> = ends.iter().map(|end| end.date_naive()).collect();
        query = query.bind(days).bind(&ends).bind(span_start).bind(span_end);
    }
    let rows: Vec<Row> = query.fetch_all(&mut *conn).await?;
    let mut days: Vec<SeriesDay> = Vec::with_capacity(rows.len());
    let mut cuts: FxHashMap<(usize, i64), SeriesDay> = FxHashMap::default();
    for (series_id, day, last_value, last_observed_at, first_observed_at, cut) in rows {
        let day = SeriesDay {
            series_id,
            day,
            last_value,
            last_observed_at,
            first_observed_at,
        };
        match usize::try_from(cut) {
            Ok(cut) => {
                cuts.insert((cut, series_id), day);
            }
            Err(_) => days.push(day),
        }
    }
    days.sort_unstable_by_key(|day| (day.series_id, day.day));
    let cut_days = CutDays {
        ends: &ends,
        rows: &cuts,
    };
    Ok(Some(resolve(series, &days, &cut_days, windows)))
}

/// Each series' rollups of the days `[$2, $3)`, cut `-1`.
const DAYS: &str =
    "select series_id, day, last_value, last_observed_at, first_observed_at, -1::int4 as cut
     from observation_daily
     where series_id = any($1) and day >= $2 and day < $3";

/// [`DAYS`], and each series' latest observation of each cut day (`$4`)
/// before its end (`$5`), with the cut's index; `$6` and `$7` bound them
/// all, so that PostgreSQL plans only the partitions they reach.
static DAYS_AND_CUTS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{DAYS} union all
         select s.series_id, c.day, o.value, o.observed_at, o.observed_at, (c.cut - 1)::int4
         from unnest($4::date[], $5::timestamptz[]) with ordinality as c(day, cut_end, cut)
         cross join unnest($1::int8[]) as s(series_id)
         cross join lateral (
             select o.value, o.observed_at from observation o
             where o.series_id = s.series_id
               and o.observed_at >= c.day::timestamp at time zone 'UTC'
               and o.observed_at < c.cut_end
               and o.observed_at >= $6 and o.observed_at < $7
             order by o.observed_at desc limit 1
         ) o"
    )
});

/// The cut days read: each cut's end, and each series' latest observation
/// before it on its day, by (cut index, series).
struct CutDays<'a> {
    ends: &'a [DateTime<Utc>],
    rows: &'a FxHashMap<(usize, i64), SeriesDay>,
}

impl CutDays<'_> {
    /// The index of `window`'s cut, when its last day was cut.
    fn of(&self, window: &Window) -> Option<usize> {
        self.ends.iter().position(|end| *end == window.end)
    }

    /// What `series` observed on cut `cut`'s day before its end.
    fn day(&self, cut: usize, series: i64) -> Option<&SeriesDay> {
        self.rows.get(&(cut, series))
    }
}

/// The days `[first, after)` that the non-empty windows touch.
fn day_span(windows: &[Window]) -> Option<(NaiveDate, NaiveDate)> {
    let touched = windows.iter().filter(|window| !window.is_empty());
    let first = touched.clone().map(|window| window.start).min()?;
    let last = touched.map(Window::last_day).max()?;
    Some((first.date_naive(), last.succ_opt()?))
}

/// Each window's rows per base metric from the series' `days` (sorted by
/// series and day), and the windows some series leaves unknown.
fn resolve(
    series: &SelectedSeries,
    days: &[SeriesDay],
    cuts: &CutDays<'_>,
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
        let cut = cuts.of(window);
        for (id, key_index) in series.ids.iter().zip(&series.key_index) {
            let days = by_series.get(id).copied().unwrap_or_default();
            match latest_in(days, window, cut.map(|cut| cuts.day(cut, *id))) {
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
