//! Windows read series by series: what LAST needs (each series' own
//! latest value in a window), and windows cut at other moments than
//! midnights (hourly buckets), which rollups cannot serve.

use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, Utc};
use rustc_hash::FxHashMap;
use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use sqlx::{PgConnection, Postgres};

use super::ONE_BY_ONE;
use super::buckets::{self, Bucket};
use super::combine::Combined;
use super::evaluate::{Selection, Window};
use super::selected::{SelectedSeries, SeriesCache};
use crate::error::ApiError;

mod days;

/// The selected series of `base_keys` combined per (window index, key),
/// series by series. Contiguous windows may ask for any aggregate; other
/// windows only for LAST (composable aggregates of such windows are read as
/// a day grid), for which each series' latest value is all that is read;
/// `last_only` says every key is aggregated by LAST.
pub async fn combine(
    conn: &mut PgConnection,
    cache: &SeriesCache,
    base_keys: &[&str],
    last_only: bool,
    selection: &Selection,
    windows: &[Window],
) -> Result<FxHashMap<(usize, String), Combined>, ApiError> {
    if windows.iter().all(Window::is_empty) {
        return Ok(FxHashMap::default());
    }
    let series = SelectedSeries::resolve(conn, cache, base_keys, selection).await?;
    if series.is_empty() {
        return Ok(FxHashMap::default());
    }
    // One LAST window alone is cheaper probed from its newest end than read
    // whole, day by day.
    let contiguous = !(last_only && windows.len() == 1)
        && windows
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
            .bind(&series.ids)
            .bind(&series.key_index)
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
        latest_in_windows(conn, &series, windows).await?
    };
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let window = usize::try_from(row.window).ok()?;
            let key = base_keys.get(usize::try_from(row.key_index).ok()?)?;
            Some((
                (window, (*key).to_owned()),
                Combined {
                    sum: row.value_sum,
                    count: row.value_count,
                    min: row.value_min,
                    max: row.value_max,
                    last_sum: row.last_sum,
                    last_at: row.last_observed_at,
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

/// LAST over windows that overlap or leave gaps (a key result's current and
/// baseline windows, a forecast's daily samples, a history's steps): per
/// window and series, the latest value. Many windows read each series'
/// days once and take it from the rollups ([`days`]); what they cannot
/// tell, and few windows over many days, are probed instead.
async fn latest_in_windows(
    conn: &mut PgConnection,
    series: &SelectedSeries,
    windows: &[Window],
) -> Result<Vec<WindowRow>, ApiError> {
    let (mut rows, to_probe) = match days::latest_from_days(conn, series, windows).await? {
        Some(found) => found,
        None => (Vec::new(), (0..windows.len()).collect()),
    };
    if !to_probe.is_empty() {
        rows.extend(probe_windows(conn, series, windows, &to_probe).await?);
    }
    Ok(rows)
}

/// [`latest_in_windows`] of the windows at `indices` by index probes, one
/// per part (`limit 1` from the newest). Windows of whole days (every
/// sample cut at midnight) are read together from the rollups alone;
/// windows with raw edges (cut mid-day, usually the one or two ending at
/// the moment asked) each on its own, with its bounds as plain parameters
/// so PostgreSQL prunes the yearly partitions once, not per probe, or all
/// in one statement when there are many. The cost follows windows ×
/// series, never the days inside a window.
async fn probe_windows(
    conn: &mut PgConnection,
    series: &SelectedSeries,
    windows: &[Window],
    indices: &[usize],
) -> Result<Vec<WindowRow>, ApiError> {
    let epoch = DateTime::UNIX_EPOCH.date_naive();
    let mut whole_days: (Vec<i32>, Vec<NaiveDate>, Vec<NaiveDate>) = Default::default();
    let mut edged: Vec<EdgedWindow> = Vec::new();
    let mut rows = Vec::new();
    for &index in indices {
        let window = &windows[index];
        if window.is_empty() {
            continue;
        }
        let plan = buckets::read_plan(window.start, window.end, buckets::Interval::Whole);
        let (first, after) = plan.rollup_days.unwrap_or((epoch, epoch));
        let index = i32::try_from(index).unwrap_or(i32::MAX);
        if plan.raw_ranges.is_empty() {
            whole_days.0.push(index);
            whole_days.1.push(first);
            whole_days.2.push(after);
            continue;
        }
        let empty = Bucket {
            start: window.start,
            end: window.start,
        };
        edged.push(EdgedWindow {
            index,
            days: (first, after),
            leading: plan.raw_ranges.first().copied().unwrap_or(empty),
            trailing: plan.raw_ranges.get(1).copied().unwrap_or(empty),
        });
    }
    if !whole_days.0.is_empty() && !edged.is_empty() {
        // Both kinds (a forecast's daily samples and the current and
        // baseline windows) in one statement.
        let query = sqlx::query_as(LATEST_IN_ANY_WINDOWS.as_str())
            .bind(&series.ids)
            .bind(&series.key_index)
            .bind(&whole_days.0)
            .bind(&whole_days.1)
            .bind(&whole_days.2);
        let found: Vec<WindowRow> = bind_edged(query, &edged).fetch_all(&mut *conn).await?;
        return Ok(found);
    }
    if edged.len() <= ONE_BY_ONE {
        for window in &edged {
            let found: Vec<WindowRow> = sqlx::query_as(LATEST_IN_ONE_WINDOW.as_str())
                .bind(&series.ids)
                .bind(&series.key_index)
                .bind(window.index)
                .bind(window.days.0)
                .bind(window.days.1)
                .bind(window.leading.start)
                .bind(window.leading.end)
                .bind(window.trailing.start)
                .bind(window.trailing.end)
                .fetch_all(&mut *conn)
                .await?;
            rows.extend(found);
        }
    } else {
        let query = sqlx::query_as(LATEST_IN_EDGED_WINDOWS.as_str())
            .bind(&series.ids)
            .bind(&series.key_index);
        let found: Vec<WindowRow> = bind_edged(query, &edged).fetch_all(&mut *conn).await?;
        rows.extend(found);
    }
    if !whole_days.0.is_empty() {
        let found: Vec<WindowRow> = sqlx::query_as(LATEST_IN_WHOLE_DAYS.as_str())
            .bind(&series.ids)
            .bind(&series.key_index)
            .bind(&whole_days.0)
            .bind(&whole_days.1)
            .bind(&whole_days.2)
            .fetch_all(&mut *conn)
            .await?;
        rows.extend(found);
    }
    Ok(rows)
}

/// A statement of windows with raw edges, its leading parameters bound,
/// given the windows' columns and the span of their edges.
type LatestQuery<'q> = QueryAs<'q, Postgres, WindowRow, PgArguments>;

fn bind_edged<'q>(query: LatestQuery<'q>, edged: &[EdgedWindow]) -> LatestQuery<'q> {
    let column = |part: fn(&EdgedWindow) -> DateTime<Utc>| -> Vec<DateTime<Utc>> {
        edged.iter().map(part).collect()
    };
    query
        .bind(edged.iter().map(|window| window.index).collect::<Vec<_>>())
        .bind(edged.iter().map(|window| window.days.0).collect::<Vec<_>>())
        .bind(edged.iter().map(|window| window.days.1).collect::<Vec<_>>())
        .bind(column(|window| window.leading.start))
        .bind(column(|window| window.leading.end))
        .bind(column(|window| window.trailing.start))
        .bind(column(|window| window.trailing.end))
        // The span of every window's edges, so planning covers only the
        // partitions it reaches.
        .bind(edged.iter().map(|window| window.leading.start).min())
        .bind(
            edged
                .iter()
                .map(|window| window.trailing.end.max(window.leading.end))
                .max(),
        )
}

/// A LAST window with raw edges: its whole days and its two raw ranges (an
/// empty one when it has one edge).
struct EdgedWindow {
    index: i32,
    days: (NaiveDate, NaiveDate),
    leading: Bucket,
    trailing: Bucket,
}

#[derive(sqlx::FromRow)]
struct WindowRow {
    window: i32,
    key_index: i32,
    value_sum: f64,
    value_count: i64,
    value_min: f64,
    value_max: f64,
    last_sum: f64,
    last_observed_at: Option<DateTime<Utc>>,
}

/// The selected series as looked up beforehand ([`SelectedSeries`]): ids in
/// `$1`, each one's base metric as an index into the keys in `$2`. The reads
/// probe the (series, time) indexes with `$1` itself, so each is an index
/// scan per series rather than a join the planner might hash over a whole
/// partition.
const SELECTED: &str = "
with selected as (
    select series_id, key_index from unnest($1::int8[], $2::int4[]) as s(series_id, key_index)
)";

/// Per series and window, then per window and base metric: each series'
/// latest value in a window is taken with `max` over (microseconds, value)
/// pairs rather than an ordered `array_agg`, which would sort every row.
const COMBINE_PARTS: &str = "
per_series as (
    select series_id, window_index, sum(value_sum) as value_sum, sum(value_count) as value_count,
           min(value_min) as value_min, max(value_max) as value_max,
           (max(array[(extract(epoch from last_observed_at) * 1000000)::float8, last_value]))[2]
               as last_value,
           max(last_observed_at) as last_observed_at
    from parts
    group by series_id, window_index
)
select p.window_index as window, s.key_index, sum(p.value_sum) as value_sum,
       sum(p.value_count)::int8 as value_count, min(p.value_min) as value_min,
       max(p.value_max) as value_max, sum(p.last_value) as last_sum,
       max(p.last_observed_at) as last_observed_at
from per_series p join selected s using (series_id)
where p.window_index >= 0
group by p.window_index, s.key_index";

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
           (width_bucket(d.day::timestamp at time zone 'UTC', $3::timestamptz[]) - 1)::int4 as window_index,
           d.value_sum, d.value_count, d.value_min, d.value_max, d.last_value, d.last_observed_at
    from observation_daily d
    where d.series_id = any($1::int8[])
      and d.day >= $5 and d.day < $6
    union all
    select o.series_id, (width_bucket(o.observed_at, $3::timestamptz[]) - 1)::int4,
           o.value, 1, o.value, o.value, o.value, o.observed_at
    from observation o
    where o.series_id = any($1::int8[])
      and ((o.observed_at >= $7 and o.observed_at < $8) or (o.observed_at >= $9 and o.observed_at < $10))
      and o.observed_at < $4
),
{COMBINE_PARTS}"
    )
});

/// The aggregates of each series' latest value (`latest.value`, observed
/// at `latest.at`) in a window, across series.
const LATEST_AGGREGATES: &str = "sum(latest.value) as value_sum, count(*)::int8 as value_count,
       min(latest.value) as value_min, max(latest.value) as value_max,
       sum(latest.value) as last_sum, max(latest.at) as last_observed_at";

/// Each series' latest rollup in each window of whole days (given as
/// `(window_index, first_day, after_last_day)` arrays from `$first`),
/// summed per window and metric.
fn latest_in_whole_days(first: usize) -> String {
    let [indices, firsts, afters] = std::array::from_fn(|at| format!("${}", first + at));
    format!(
        "select w.window_index as window, s.key_index, {LATEST_AGGREGATES}
from unnest({indices}::int4[], {firsts}::date[], {afters}::date[])
     as w(window_index, first_day, after_last_day)
cross join selected s
cross join lateral (
    select d.last_value as value, d.last_observed_at as at from observation_daily d
    where d.series_id = s.series_id and d.day >= w.first_day and d.day < w.after_last_day
    order by d.day desc limit 1
) latest
group by w.window_index, s.key_index"
    )
}

/// Each series' latest value in each of many windows with raw edges, given
/// as arrays from `$first` (index, first day, day after the last, leading
/// start and end, trailing start and end), then the span of every edge.
fn latest_in_edged_windows(first: usize) -> String {
    let [
        indices,
        firsts,
        afters,
        leading_starts,
        leading_ends,
        trailing_starts,
        trailing_ends,
        span_start,
        span_end,
    ] = std::array::from_fn(|at| format!("${}", first + at));
    format!(
        "select w.window_index as window, s.key_index, {LATEST_AGGREGATES}
from unnest({indices}::int4[], {firsts}::date[], {afters}::date[],
            {leading_starts}::timestamptz[], {leading_ends}::timestamptz[],
            {trailing_starts}::timestamptz[], {trailing_ends}::timestamptz[])
     as w(window_index, first_day, after_last_day, leading_start, leading_end,
          trailing_start, trailing_end)
cross join selected s
{}
group by w.window_index, s.key_index",
        latest_with_edges(
            [
                "w.first_day",
                "w.after_last_day",
                "w.leading_start",
                "w.leading_end",
                "w.trailing_start",
                "w.trailing_end"
            ],
            &format!("and o.observed_at >= {span_start} and o.observed_at < {span_end}")
        )
    )
}

/// Each series' latest rollup in each window of whole days.
static LATEST_IN_WHOLE_DAYS: LazyLock<String> =
    LazyLock::new(|| format!("{SELECTED}\n{}", latest_in_whole_days(3)));

/// Each series' latest value in each of many windows with raw edges.
static LATEST_IN_EDGED_WINDOWS: LazyLock<String> =
    LazyLock::new(|| format!("{SELECTED}\n{}", latest_in_edged_windows(3)));

/// Both: windows of whole days from `$3`, windows with raw edges from `$6`.
static LATEST_IN_ANY_WINDOWS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{SELECTED}\n{} union all {}",
        latest_in_whole_days(3),
        latest_in_edged_windows(6)
    )
});

/// A series' latest value in a window with raw edges: the newest of its
/// trailing edge, its whole days and its leading edge, given as
/// `(first_day, after_last_day, leading_start, leading_end, trailing_start,
/// trailing_end)`, with `span` added to the conditions on raw rows.
fn latest_with_edges(bounds: [&str; 6], span: &str) -> String {
    let [
        first_day,
        after_last_day,
        leading_start,
        leading_end,
        trailing_start,
        trailing_end,
    ] = bounds;
    format!(
        "cross join lateral (
    select c.value, c.at from (
        (select o.value, o.observed_at as at from observation o
         where o.series_id = s.series_id
           and o.observed_at >= {trailing_start} and o.observed_at < {trailing_end} {span}
         order by o.observed_at desc limit 1)
        union all
        (select d.last_value, d.last_observed_at from observation_daily d
         where d.series_id = s.series_id and d.day >= {first_day} and d.day < {after_last_day}
         order by d.day desc limit 1)
        union all
        (select o.value, o.observed_at from observation o
         where o.series_id = s.series_id
           and o.observed_at >= {leading_start} and o.observed_at < {leading_end} {span}
         order by o.observed_at desc limit 1)
    ) c
    order by c.at desc limit 1
) latest"
    )
}

/// Each series' latest value in one window with raw edges.
static LATEST_IN_ONE_WINDOW: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{SELECTED}
select $3::int4 as window, s.key_index, {LATEST_AGGREGATES}
from selected s
{}
group by s.key_index",
        latest_with_edges(["$4", "$5", "$6", "$7", "$8", "$9"], "")
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
