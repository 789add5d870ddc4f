//! Keeping the daily rollups in step with a load: each batch's aggregates
//! per (series, UTC day), and the end-of-load statements that fold them in.
//!
//! Every statement here that writes rollups does so in (series, day)
//! order: two loads that touch the same days then meet on the first day they share and
//! one waits for the other, instead of each holding a day the other needs.
//! Whatever deadlock remains is undone by a savepoint and retried, never
//! costing a load its whole stream.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::DateTime;
use sqlx::PgConnection;

use super::savepoint::{self, Attempt, DeadlockRetries};
use super::{StagedRow, selection_rollup};
use crate::error::ApiError;
use crate::observations::read::combine::Partial;

/// Microseconds in a day.
pub(super) const DAY_MICROS: i64 = 86_400_000_000;

/// Aggregates per (series id, UTC day number since 1970), in key order.
pub(super) type DailyPartials = BTreeMap<(i64, i64), Partial>;

/// The aggregates of rows per (series, UTC day).
pub(super) fn daily_partials(rows: &[StagedRow]) -> DailyPartials {
    // Rows usually arrive grouped by series and time: fold runs of one key
    // first, then sort what is left (nearly sorted, so cheap) and fold again.
    let mut runs: Vec<((i64, i64), Partial)> = Vec::new();
    for row in rows {
        let key = (row.series_id, row.observed_at_micros.div_euclid(DAY_MICROS));
        let last_at = DateTime::from_timestamp_micros(row.observed_at_micros).unwrap_or_default();
        let one = Partial {
            sum: row.value,
            count: 1,
            min: row.value,
            max: row.value,
            last_value: row.value,
            last_at,
            first_at: last_at,
        };
        match runs.last_mut() {
            Some((run_key, partial)) if *run_key == key => *partial = partial.merge(one),
            _ => runs.push((key, one)),
        }
    }
    runs.sort_by_key(|(key, _)| *key);
    let mut partials = DailyPartials::new();
    for (key, partial) in runs {
        partials
            .entry(key)
            .and_modify(|p| *p = p.merge(partial))
            .or_insert(partial);
    }
    partials
}

/// Folds the session's deltas into the rollups when some (series, day)
/// already has a rollup or appears more than once: aggregated per key.
const MERGE_DELTAS: &str = "
insert into observation_daily as d
    (series_id, day, value_sum, value_count, value_min, value_max, last_value, last_observed_at,
     first_observed_at, metric_id)
select x.series_id, x.day, sum(x.value_sum), sum(x.value_count), min(x.value_min),
       max(x.value_max), (array_agg(x.last_value order by x.last_observed_at desc))[1],
       max(x.last_observed_at), min(x.first_observed_at), min(s.metric_id)
from observation_daily_delta x
join series s using (series_id)
group by x.series_id, x.day
order by x.series_id, x.day
on conflict (series_id, day) do update set
    value_sum = d.value_sum + excluded.value_sum,
    value_count = d.value_count + excluded.value_count,
    value_min = least(d.value_min, excluded.value_min),
    value_max = greatest(d.value_max, excluded.value_max),
    last_value = case when excluded.last_observed_at > d.last_observed_at
                      then excluded.last_value else d.last_value end,
    last_observed_at = greatest(d.last_observed_at, excluded.last_observed_at),
    first_observed_at = least(d.first_observed_at, excluded.first_observed_at)";

/// Inserts the deltas as they are: what a load into days without rollups
/// needs, each (series, day) appearing once. The deltas arrive sorted batch
/// by batch only, so they are sorted here, in memory raised for this
/// transaction (a million deltas take about 100 MiB): measured, the sort
/// costs nothing visible beside the insert (1.83 s either way for the
/// 1,260,000 rollups of a 5,000,000-row load), and it keeps two loads of the
/// same new days from deadlocking.
const INSERT_DELTAS: [&str; 2] = [
    "set local work_mem = '256MB'",
    "insert into observation_daily
         (series_id, day, value_sum, value_count, value_min, value_max, last_value,
          last_observed_at, first_observed_at, metric_id)
     select x.*, s.metric_id
     from observation_daily_delta x
     join series s using (series_id)
     order by x.series_id, x.day",
];

/// Recomputes, from raw rows, the rollups of the days where values were
/// replaced. The rollup rows are locked first: a concurrent writer folding
/// fresh rows into one of them then either committed before (and the
/// recomputation sees its rows) or waits and folds its rows in after.
const RECOMPUTE_REPLACED_DAYS: [&str; 2] = [
    "select 1 from observation_daily d join observation_replaced_day r using (series_id, day)
     order by d.series_id, d.day for update of d",
    "insert into observation_daily as d
         (series_id, day, value_sum, value_count, value_min, value_max, last_value, last_observed_at,
          first_observed_at, metric_id)
     select r.series_id, r.day, sum(o.value), count(*), min(o.value), max(o.value),
            (array_agg(o.value order by o.observed_at desc))[1], max(o.observed_at), min(o.observed_at),
            min(o.metric_id)
     from observation_replaced_day r
     join observation o on o.series_id = r.series_id
         and o.observed_at >= r.day::timestamp at time zone 'UTC'
         and o.observed_at < (r.day + 1)::timestamp at time zone 'UTC'
     group by r.series_id, r.day
     order by r.series_id, r.day
     on conflict (series_id, day) do update set
         value_sum = excluded.value_sum, value_count = excluded.value_count,
         value_min = excluded.value_min, value_max = excluded.value_max,
         last_value = excluded.last_value, last_observed_at = excluded.last_observed_at,
         first_observed_at = excluded.first_observed_at",
];

/// Adds the session's deltas to the organisation-level rollups, per metric
/// and day, in key order (so two loads lock shared rows in the same order):
/// the composable aggregates and the newest time, which fresh rows only
/// add to. Last values and departures are recomputed after the per-series
/// merge.
static ADD_ORGANISATION_DELTAS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "insert into observation_daily_organisation as g
             (metric_key, day, value_sum, value_count, value_min, value_max, last_observed_at,
              first_observed_at)
         select s.metric_key, d.day, {}
         from observation_daily_delta d
         join series s using (series_id)
         group by s.metric_key, d.day
         order by s.metric_key, d.day
         on conflict (metric_key, day) do update set {ADD_COMPOSABLE}",
        combined_columns("d")
    )
});

/// The composable aggregates of rollup rows `alias` of many series
/// together, in the column order of the organisation's and the selections'
/// rollups: sum, count, min, max, newest and first times.
pub(super) fn combined_columns(alias: &str) -> String {
    format!(
        "sum({alias}.value_sum), sum({alias}.value_count), min({alias}.value_min),
         max({alias}.value_max), max({alias}.last_observed_at), min({alias}.first_observed_at)"
    )
}

/// How an upsert into a rollup `g` of many series adds fresh values'
/// composable aggregates (`excluded`) to what it holds: they only add to
/// each, so concurrent loads commute.
pub(super) const ADD_COMPOSABLE: &str = "
    value_sum = g.value_sum + excluded.value_sum,
    value_count = g.value_count + excluded.value_count,
    value_min = least(g.value_min, excluded.value_min),
    value_max = greatest(g.value_max, excluded.value_max),
    last_observed_at = greatest(g.last_observed_at, excluded.last_observed_at),
    first_observed_at = least(g.first_observed_at, excluded.first_observed_at)";

/// How an upsert into a rollup of many series replaces a day's composable
/// aggregates with ones recomputed from the per-series rollups.
pub(super) const REPLACE_COMPOSABLE: &str = "
    value_sum = excluded.value_sum, value_count = excluded.value_count,
    value_min = excluded.value_min, value_max = excluded.value_max,
    last_observed_at = excluded.last_observed_at,
    first_observed_at = excluded.first_observed_at";

/// The (metric, day) pairs of the session's deltas and the days after them:
/// whose departures a fresh series-day can change (the days after keep
/// their last sums, recomputed alike).
const DELTA_DAYS_AND_NEXT: &str = "
select distinct s.metric_key, d.day + k.k as day
from observation_daily_delta d
join series s using (series_id)
cross join (values (0), (1)) as k(k)";

/// Locks the organisation rows of the deltas' days and of the days after
/// them, in key order: taken before the deltas are added (so two loads meet
/// in one order) and again before the recomputation, for rows a concurrent
/// load created meanwhile. Whoever changes which series were observed on a
/// day recomputes that day's and the next day's departures while holding
/// both rows, so two loads never count from each other's half-written days.
static LOCK_DELTA_DAYS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "select 1 from observation_daily_organisation g
         where (g.metric_key, g.day) in ({DELTA_DAYS_AND_NEXT})
         order by g.metric_key, g.day for update of g"
    )
});

/// The summed last values and the departures (series observed the day
/// before and not on the day) of the deltas' days and the days after them,
/// recomputed from the (already merged) per-series rollups in one pass:
/// whether a fresh value is a day's last depends on the series' other values
/// of the day, and whether a series departed on the days around it, which
/// only the per-series rollups hold.
static RECOMPUTE_LAST_VALUES_AND_DEPARTURES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "update observation_daily_organisation g
         set last_sum = v.last_sum, departures = v.departures
         from (
             select t.metric_key, t.day, sum(n.last_value) as last_sum,
                    count(p.series_id) filter (where n.series_id is null) as departures
             from ({DELTA_DAYS_AND_NEXT}) t
             join series s on s.metric_key = t.metric_key
             left join observation_daily p on p.series_id = s.series_id and p.day = t.day - 1
             left join observation_daily n on n.series_id = s.series_id and n.day = t.day
             group by t.metric_key, t.day
         ) v
         where g.metric_key = v.metric_key and g.day = v.day"
    )
});

/// Recomputes the organisation-level rollups of the (metric, day) pairs
/// where values were replaced, from the (already recomputed) per-series
/// rollups. The rows are locked first and read in a later statement, so a
/// concurrent load's delta is either committed before the read (and seen)
/// or added after this transaction commits.
static RECOMPUTE_ORGANISATION_DAYS: LazyLock<[String; 2]> = LazyLock::new(|| {
    let days = "select distinct s.metric_key, r.day
                from observation_replaced_day r join series s using (series_id)";
    [
        format!(
            "select 1 from observation_daily_organisation g
             join ({days}) r using (metric_key, day)
             order by g.metric_key, g.day for update of g"
        ),
        format!(
            "insert into observation_daily_organisation as g
                 (metric_key, day, value_sum, value_count, value_min, value_max,
                  last_sum, last_observed_at, first_observed_at)
             select s.metric_key, d.day, sum(d.value_sum), sum(d.value_count),
                    min(d.value_min), max(d.value_max), sum(d.last_value),
                    max(d.last_observed_at), min(d.first_observed_at)
             from ({days}) r
             join series s on s.metric_key = r.metric_key
             join observation_daily d on d.series_id = s.series_id and d.day = r.day
             group by s.metric_key, d.day
             order by s.metric_key, d.day
             on conflict (metric_key, day) do update set
                 last_sum = excluded.last_sum, {REPLACE_COMPOSABLE}"
        ),
    ]
});

/// How often the end-of-load merge is tried when PostgreSQL breaks a
/// deadlock by cancelling it.
const MERGE_ATTEMPTS: u32 = 5;

/// What a load left for the end: aggregates waiting in the deltas, and days
/// in which it replaced values.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct PendingRollups {
    /// Aggregates wait in `observation_daily_delta`.
    pub deltas: bool,
    /// A batch took the slow path, so days in `observation_replaced_day`
    /// must be recomputed from raw rows.
    pub replaced_days: bool,
}

/// Folds what a load left pending into the rollups.
///
/// Every statement writes in key order, but two statements in a row (the
/// merge, then the recomputation) can still cross another load's pair, and
/// a third writer can commit a day between them; PostgreSQL then cancels one
/// side. The merge runs in a savepoint, so the cancelled side rolls back
/// only this step, releasing its rollup locks for the other side, and tries
/// again; its deltas are still there.
pub(super) async fn merge_pending(
    conn: &mut PgConnection,
    pending: PendingRollups,
) -> Result<(), ApiError> {
    if !pending.deltas && !pending.replaced_days {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let mut retries = DeadlockRetries::new(MERGE_ATTEMPTS, "rollup merge");
    loop {
        savepoint::begin(conn, "rollup_merge").await?;
        let merge = merge_pending_once(conn, pending).await;
        let outcome = savepoint::settle(conn, "rollup_merge", merge).await?;
        if retries.settle(outcome)?.is_some() {
            break;
        }
    }
    tracing::debug!(
        merge_ms = started.elapsed().as_secs_f64() * 1000.0,
        attempts = retries.made,
        "merged the rollups of a load"
    );
    Ok(())
}

async fn merge_pending_once(
    conn: &mut PgConnection,
    pending: PendingRollups,
) -> Result<(), sqlx::Error> {
    // The table lock the merge's writes take anyway, taken before any rollup
    // row is: a selection's registration (which waits for it) then never
    // sits between a load holding rows another load needs and that load.
    sqlx::query("lock table observation_daily in row exclusive mode")
        .execute(&mut *conn)
        .await?;
    if pending.deltas {
        sqlx::query(LOCK_DELTA_DAYS.as_str())
            .execute(&mut *conn)
            .await?;
        sqlx::query(ADD_ORGANISATION_DELTAS.as_str())
            .execute(&mut *conn)
            .await?;
        merge_deltas(conn).await?;
        selection_rollup::add_deltas(conn).await?;
        for statement in [&LOCK_DELTA_DAYS, &RECOMPUTE_LAST_VALUES_AND_DEPARTURES] {
            sqlx::query(statement.as_str()).execute(&mut *conn).await?;
        }
        sqlx::query("truncate observation_daily_delta")
            .execute(&mut *conn)
            .await?;
    }
    if pending.replaced_days {
        // Series first: the selections' and the organisation's days are
        // recomputed from them.
        for statement in RECOMPUTE_REPLACED_DAYS {
            sqlx::query(statement).execute(&mut *conn).await?;
        }
        selection_rollup::recompute_replaced_days(conn).await?;
        for statement in RECOMPUTE_ORGANISATION_DAYS.iter() {
            sqlx::query(statement).execute(&mut *conn).await?;
        }
        sqlx::query("truncate observation_replaced_day")
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Folds the deltas into the per-series rollups (the caller empties them
/// once the organisation's are recomputed from these): one plain insert when their days
/// have no rollups and none repeats (a backfill, usually), else the
/// aggregating upsert.
async fn merge_deltas(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query(INSERT_DELTAS[0]).execute(&mut *conn).await?;
    savepoint::begin(conn, "rollup_insert").await?;
    let insert = sqlx::query(INSERT_DELTAS[1]).execute(&mut *conn).await;
    match savepoint::settle(conn, "rollup_insert", insert).await? {
        Attempt::Done(_) => {}
        // A deadlock (with a writer of another order, such as a
        // recomputation) undid the insert and released its days: the
        // ordered upsert waits for the other load instead.
        Attempt::KeyExists(_) | Attempt::Deadlocked(_) => {
            sqlx::query(MERGE_DELTAS).execute(&mut *conn).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    #[test]
    fn batches_aggregate_per_series_and_utc_day() {
        let at = |text: &str| text.parse::<DateTime<Utc>>().unwrap().timestamp_micros();
        let row = |observed_at_micros: i64, value: f64| StagedRow {
            series_id: 1,
            metric_id: 1,
            observed_at_micros,
            value,
            source_id: 1,
        };
        let rows = [
            row(at("2026-03-01T23:00:00Z"), 5.0),
            row(at("2026-03-01T01:00:00Z"), 9.0),
            row(at("2026-03-02T00:00:00Z"), 1.0),
        ];
        let partials = daily_partials(&rows);
        assert_eq!(partials.len(), 2);
        let first = partials.values().next().unwrap();
        assert_eq!(
            (
                first.sum,
                first.count,
                first.min,
                first.max,
                first.last_value
            ),
            (14.0, 2, 5.0, 9.0, 5.0)
        );
    }
}
