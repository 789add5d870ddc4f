//! The statements of the day grid: whole days and raw edges of many reads
//! at once, each row naming the read's part it belongs to by a small
//! integer, so that the windows of every key result of a goal (or of a
//! report's goals) cost one statement of each kind, not one per read.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::QueryAs;
use sqlx::{PgConnection, Postgres, Row};

use crate::error::ApiError;

/// Day ranges to read for one group (a read's key): from the selected
/// series' rollups, the selection's own when it has them, or the
/// organisation's when the read covers every series.
#[derive(Default)]
pub struct DayRequests {
    /// `(group, series id, first day, day after the last)`.
    pub selected: Vec<(i32, i64, NaiveDate, NaiveDate)>,
    /// `(group, metric key, first day, day after the last)`.
    pub organisation: Vec<(i32, String, NaiveDate, NaiveDate)>,
    /// `(group, selection id, first day, day after the last)`.
    pub selection: Vec<(i32, i32, NaiveDate, NaiveDate)>,
}

/// The `value_count` of the row that says a group's selection is not
/// registered in the reader's snapshot (registered since it began), so its
/// rollups cannot be trusted there and its series are read instead.
pub const UNREGISTERED: i64 = -1;

/// A group's day, combined across its series: the columns of every part
/// of the days' statement, in this order.
pub struct GroupDay {
    pub grp: i32,
    pub day: NaiveDate,
    pub value_sum: f64,
    pub value_count: i64,
    pub value_min: f64,
    pub value_max: f64,
    pub last_observed_at: DateTime<Utc>,
    pub first_observed_at: DateTime<Utc>,
}

/// Decoded by position, not by name: a grid returns hundreds of rows, and
/// a column found by its name costs a hash lookup per value.
impl<'r> sqlx::FromRow<'r, PgRow> for GroupDay {
    fn from_row(row: &'r PgRow) -> Result<Self, sqlx::Error> {
        Ok(GroupDay {
            grp: row.try_get(0)?,
            day: row.try_get(1)?,
            value_sum: row.try_get(2)?,
            value_count: row.try_get(3)?,
            value_min: row.try_get(4)?,
            value_max: row.try_get(5)?,
            last_observed_at: row.try_get(6)?,
            first_observed_at: row.try_get(7)?,
        })
    }
}

/// Parameter placeholders `$first`, `$first + 1`, …
fn placeholders<const N: usize>(first: usize) -> [String; N] {
    std::array::from_fn(|at| format!("${}", first + at))
}

fn selected_days(first: usize) -> String {
    let [groups, series, firsts, afters] = placeholders(first);
    format!(
        "select s.grp, d.day, sum(d.value_sum) as value_sum,
                sum(d.value_count)::int8 as value_count,
                min(d.value_min) as value_min, max(d.value_max) as value_max,
                max(d.last_observed_at) as last_observed_at,
                min(d.first_observed_at) as first_observed_at
         from unnest({groups}::int4[], {series}::int8[], {firsts}::date[], {afters}::date[])
             as s(grp, series_id, first_day, after_last_day)
         join observation_daily d
             on d.series_id = s.series_id
            and d.day >= s.first_day and d.day < s.after_last_day
         group by s.grp, d.day"
    )
}

fn organisation_days(first: usize) -> String {
    let [groups, keys, firsts, afters] = placeholders(first);
    format!(
        "select s.grp, g.day, g.value_sum, g.value_count::int8 as value_count,
                g.value_min, g.value_max, g.last_observed_at, g.first_observed_at
         from unnest({groups}::int4[], {keys}::text[], {firsts}::date[], {afters}::date[])
             as s(grp, metric_key, first_day, after_last_day)
         join observation_daily_organisation g
             on g.metric_key = s.metric_key
            and g.day >= s.first_day and g.day < s.after_last_day"
    )
}

fn selection_days(first: usize) -> String {
    let [groups, selections, firsts, afters] = placeholders(first);
    format!(
        "select s.grp, g.day, g.value_sum, g.value_count, g.value_min, g.value_max,
                g.last_observed_at, g.first_observed_at
         from unnest({groups}::int4[], {selections}::int4[], {firsts}::date[], {afters}::date[])
             as s(grp, selection_id, first_day, after_last_day)
         join observation_daily_selection g
             on g.selection_id = s.selection_id
            and g.day >= s.first_day and g.day < s.after_last_day
         union all
         select distinct s.grp, date 'epoch', 0::float8, {UNREGISTERED}::int8, 0::float8, 0::float8,
                timestamptz 'epoch', timestamptz 'epoch'
         from unnest({groups}::int4[], {selections}::int4[]) as s(grp, selection_id)
         where not exists (
             select 1 from rollup_selection k where k.selection_id = s.selection_id
         )"
    )
}

/// Binds one part's day ranges `(group, what, first day, day after the
/// last)` as its four arrays, in the order its statement numbers them;
/// nothing for a part that reads nothing (and is left out of the statement).
fn bind_ranges<'q, T>(
    query: QueryAs<'q, Postgres, GroupDay, PgArguments>,
    rows: &[(i32, T, NaiveDate, NaiveDate)],
) -> QueryAs<'q, Postgres, GroupDay, PgArguments>
where
    T: Clone,
    Vec<T>: for<'e> sqlx::Encode<'e, Postgres> + sqlx::Type<Postgres> + Send + 'q,
{
    if rows.is_empty() {
        return query;
    }
    query
        .bind(rows.iter().map(|row| row.0).collect::<Vec<_>>())
        .bind(rows.iter().map(|row| row.1.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|row| row.2).collect::<Vec<_>>())
        .bind(rows.iter().map(|row| row.3).collect::<Vec<_>>())
}

/// Every requested day, in one statement of the parts that read anything.
pub async fn read_days(
    conn: &mut PgConnection,
    requests: &DayRequests,
) -> Result<Vec<GroupDay>, ApiError> {
    let (selected, organisation, selection) = (
        &requests.selected,
        &requests.organisation,
        &requests.selection,
    );
    let mut parts: Vec<String> = Vec::new();
    for (read, part) in [
        (!selected.is_empty(), selected_days as fn(usize) -> String),
        (!organisation.is_empty(), organisation_days),
        (!selection.is_empty(), selection_days),
    ] {
        if read {
            parts.push(part(parts.len() * 4 + 1));
        }
    }
    if parts.is_empty() {
        return Ok(Vec::new());
    }
    let statement = parts.join(" union all ");
    let mut query = sqlx::query_as(&statement);
    query = bind_ranges(query, selected);
    query = bind_ranges(query, organisation);
    query = bind_ranges(query, selection);
    Ok(query.fetch_all(&mut *conn).await?)
}

/// One raw range to read for one part (a read's range) and key, from
/// `series`: a series id, or a metric key for every series of the metric.
pub struct RawRequest<T> {
    pub part: i32,
    pub key_index: i32,
    pub series: T,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Raw ranges to read.
#[derive(Default)]
pub struct RawRequests {
    /// From selected series.
    pub selected: Vec<RawRequest<i64>>,
    /// From every series of a metric, through the (metric, time) index.
    pub every: Vec<RawRequest<String>>,
}

/// A part's raw rows of one key, combined across its series.
#[derive(sqlx::FromRow)]
pub struct PartEdge {
    pub part: i32,
    pub key_index: i32,
    pub value_sum: f64,
    pub value_count: i64,
    pub value_min: f64,
    pub value_max: f64,
    pub last_observed_at: DateTime<Utc>,
}

/// The aggregates of one range's observations.
const RANGE_AGGREGATES: &str = "sum(o.value) as value_sum, count(*)::int8 as value_count,
       min(o.value) as value_min, max(o.value) as value_max,
       max(o.observed_at) as last_observed_at";

fn selected_edges(first: usize, span: &str) -> String {
    let [parts, keys, series, starts, ends] = placeholders(first);
    format!(
        "select s.part, s.key_index, {RANGE_AGGREGATES}
         from unnest({parts}::int4[], {keys}::int4[], {series}::int8[],
                     {starts}::timestamptz[], {ends}::timestamptz[])
             as s(part, key_index, series_id, start_at, end_at)
         join observation o
             on o.series_id = s.series_id
            and o.observed_at >= s.start_at and o.observed_at < s.end_at {span}
         group by s.part, s.key_index"
    )
}

fn every_series_edges(first: usize, span: &str) -> String {
    let [parts, keys, metrics, starts, ends] = placeholders(first);
    format!(
        "select r.part, r.key_index, e.value_sum, e.value_count, e.value_min, e.value_max,
                e.last_observed_at
         from unnest({parts}::int4[], {keys}::int4[], {metrics}::text[],
                     {starts}::timestamptz[], {ends}::timestamptz[])
             as r(part, key_index, metric_key, start_at, end_at)
         join metric_definition m on m.metric_key = r.metric_key
         cross join lateral (
             select {RANGE_AGGREGATES}
             from observation o
             where o.metric_id = m.metric_id
               and o.observed_at >= r.start_at and o.observed_at < r.end_at {span}
             having count(*) > 0
         ) e"
    )
}

/// Every requested raw range, in one statement of the parts that read
/// anything. The span of them all is a plain condition, so PostgreSQL plans
/// only the yearly partitions it reaches; each range is then pruned as it
/// is read.
pub async fn read_raw(
    conn: &mut PgConnection,
    requests: &RawRequests,
) -> Result<Vec<PartEdge>, ApiError> {
    let (selected, every) = (&requests.selected, &requests.every);
    let starts = (selected.iter().map(|row| row.start)).chain(every.iter().map(|row| row.start));
    let ends = (selected.iter().map(|row| row.end)).chain(every.iter().map(|row| row.end));
    let (Some(span_start), Some(span_end)) = (starts.min(), ends.max()) else {
        return Ok(Vec::new());
    };
    let statement = match (selected.is_empty(), every.is_empty()) {
        (false, true) => selected_edges(3, "and o.observed_at >= $1 and o.observed_at < $2"),
        (true, false) => every_series_edges(3, "and o.observed_at >= $1 and o.observed_at < $2"),
        _ => format!(
            "{} union all {}",
            selected_edges(3, "and o.observed_at >= $1 and o.observed_at < $2"),
            every_series_edges(8, "and o.observed_at >= $1 and o.observed_at < $2")
        ),
    };
    let mut query = sqlx::query_as(&statement).bind(span_start).bind(span_end);
    if !selected.is_empty() {
        query = query
            .bind(selected.iter().map(|row| row.part).collect::<Vec<_>>())
            .bind(selected.iter().map(|row| row.key_index).collect::<Vec<_>>())
            .bind(selected.iter().map(|row| row.series).collect::<Vec<_>>())
            .bind(selected.iter().map(|row| row.start).collect::<Vec<_>>())
            .bind(selected.iter().map(|row| row.end).collect::<Vec<_>>());
    }
    if !every.is_empty() {
        query = query
            .bind(every.iter().map(|row| row.part).collect::<Vec<_>>())
            .bind(every.iter().map(|row| row.key_index).collect::<Vec<_>>())
            .bind(
                every
                    .iter()
                    .map(|row| row.series.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(every.iter().map(|row| row.start).collect::<Vec<_>>())
            .bind(every.iter().map(|row| row.end).collect::<Vec<_>>());
    }
    Ok(query.fetch_all(&mut *conn).await?)
}
