//! Windows read series by series: what LAST needs (each series' own
//! latest value in a window), and windows cut at other moments than
//! midnights (hourly buckets), which rollups cannot serve.

use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, Utc};
use rustc_hash::FxHashMap;
use sqlx::PgConnection;

use super::buckets::{self, Bucket};
use super::combine::Combined;
use super::evaluate::{Selection, Window};
use crate::error::ApiError;

/// The selected series of `base_keys` combined per (window index, key),
/// series by series. Contiguous windows may ask for any aggregate; other
/// windows only for LAST (composable aggregates of such windows are read as
/// a day grid), for which each series' latest value is all that is read.
pub async fn combine(
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
/// windows, a forecast's daily samples), for LAST: per window and series,
/// the latest of the trailing raw edge, the whole days and the leading raw
/// edge, each found by one probe of its index (`limit 1` from the newest;
/// an empty part is skipped by a one-time filter). The cost follows windows
/// × series, never the days inside a window.
static SEPARATE_WINDOWS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{SELECTED},
windows as (
    select * from unnest($5::date[], $6::date[], $7::timestamptz[], $8::timestamptz[],
                         $9::timestamptz[], $10::timestamptz[])
        with ordinality as w(first_day, after_last_day, leading_start, leading_end,
                             trailing_start, trailing_end, position)
)
select (w.position - 1)::int4 as window, s.metric_key, sum(latest.value) as value_sum,
       count(*)::int8 as value_count, min(latest.value) as value_min,
       max(latest.value) as value_max, sum(latest.value) as last_sum
from windows w
cross join selected s
cross join lateral (
    select c.value from (
        (select o.value, o.observed_at as at from observation o
         where w.trailing_start < w.trailing_end and o.series_id = s.series_id
           and o.observed_at >= w.trailing_start and o.observed_at < w.trailing_end
         order by o.observed_at desc limit 1)
        union all
        (select d.last_value, d.last_observed_at from observation_daily d
         where w.first_day < w.after_last_day and d.series_id = s.series_id
           and d.day >= w.first_day and d.day < w.after_last_day
         order by d.day desc limit 1)
        union all
        (select o.value, o.observed_at from observation o
         where w.leading_start < w.leading_end and o.series_id = s.series_id
           and o.observed_at >= w.leading_start and o.observed_at < w.leading_end
         order by o.observed_at desc limit 1)
    ) c
    order by c.at desc limit 1
) latest
group by w.position, s.metric_key"
    )
});

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
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
