//! Loading resolved observations in savepointed batches and keeping the
//! daily rollups in step (see the module documentation of `ingest`).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::StagedRow;
use super::copy::{DAY_MICROS, copy_partials, copy_rows, copy_target};
use crate::error::ApiError;
use crate::metrics::aggregate::Partial;

/// Rows a stream gathers into one batch, loaded in one savepoint: large
/// enough that per-batch overhead vanishes, small enough that a batch held
/// for the slow path costs a few MiB.
pub const BATCH_ROWS: usize = 50_000;

/// SQLSTATE unique_violation: the fast path met an existing or repeated key.
const UNIQUE_VIOLATION: &str = "23505";

/// Aggregates per (series id, UTC day number since 1970).
pub(super) type DailyPartials = BTreeMap<(i64, i64), Partial>;

/// The aggregates of a batch's rows per (series, UTC day), in key order so
/// concurrent writers lock rollup rows in the same order.
fn daily_partials(rows: &[StagedRow]) -> DailyPartials {
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
/// already has a rollup or appears more than once: aggregated per key, in
/// key order so concurrent loads lock rollup rows in the same order.
const MERGE_DELTAS: &str = "
insert into observation_daily as d
    (series_id, day, value_sum, value_count, value_min, value_max, last_value, last_observed_at)
select series_id, day, sum(value_sum), sum(value_count), min(value_min), max(value_max),
       (array_agg(last_value order by last_observed_at desc))[1], max(last_observed_at)
from observation_daily_delta
group by series_id, day
order by series_id, day
on conflict (series_id, day) do update set
    value_sum = d.value_sum + excluded.value_sum,
    value_count = d.value_count + excluded.value_count,
    value_min = least(d.value_min, excluded.value_min),
    value_max = greatest(d.value_max, excluded.value_max),
    last_value = case when excluded.last_observed_at > d.last_observed_at
                      then excluded.last_value else d.last_value end,
    last_observed_at = greatest(d.last_observed_at, excluded.last_observed_at)";

/// Inserts the deltas as they are: what a load into days without rollups
/// needs, each (series, day) appearing once. Unsorted on purpose: the
/// deltas were appended in key order batch by batch, and sorting a large
/// load's deltas would spill to disk.
const INSERT_DELTAS: &str = "insert into observation_daily select * from observation_daily_delta";

/// Runs `insert` (a COPY or an INSERT of fresh rows) in a savepoint.
/// Returns false, with the insert undone, when it met a key that already
/// exists (or that it repeats), so the caller can take a path that merges
/// instead.
async fn insert_unless_a_key_exists(
    conn: &mut PgConnection,
    insert: impl AsyncFnOnce(&mut PgConnection) -> Result<(), sqlx::Error>,
) -> Result<bool, ApiError> {
    sqlx::query("savepoint load_copy")
        .execute(&mut *conn)
        .await?;
    let inserted = match insert(&mut *conn).await {
        Ok(()) => true,
        Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some(UNIQUE_VIOLATION) => {
            sqlx::query("rollback to savepoint load_copy")
                .execute(&mut *conn)
                .await?;
            false
        }
        Err(error) => return Err(error.into()),
    };
    sqlx::query("release savepoint load_copy")
        .execute(&mut *conn)
        .await?;
    Ok(inserted)
}

/// Creates the session's scratch tables once. Temporary tables are private
/// to the session and skip the WAL; `on commit delete rows` empties them for
/// the connection's next user.
async fn ensure_scratch_tables(conn: &mut PgConnection) -> Result<(), ApiError> {
    sqlx::query(
        "do $$ begin
             if to_regclass('pg_temp.observation_daily_delta') is null then
                 create temp table observation_staging (
                     series_id bigint not null, observed_at timestamptz not null,
                     value double precision not null, source_id integer not null
                 ) on commit delete rows;
                 create temp table observation_replaced_day (
                     series_id bigint not null, day date not null, primary key (series_id, day)
                 ) on commit delete rows;
                 create temp table observation_daily_delta (
                     series_id bigint not null, day date not null,
                     value_sum double precision not null, value_count bigint not null,
                     value_min double precision not null, value_max double precision not null,
                     last_value double precision not null, last_observed_at timestamptz not null
                 ) on commit delete rows;
             end if;
         end $$",
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The last row of each key, in their original order.
fn last_per_key(rows: &[StagedRow]) -> Vec<StagedRow> {
    let mut last_index: HashMap<(i64, i64), usize> = HashMap::with_capacity(rows.len());
    for (index, row) in rows.iter().enumerate() {
        last_index.insert((row.series_id, row.observed_at_micros), index);
    }
    rows.iter()
        .enumerate()
        .filter(|(index, row)| {
            last_index.get(&(row.series_id, row.observed_at_micros)) == Some(index)
        })
        .map(|(_, row)| *row)
        .collect()
}

/// The slow path's upsert: staged rows into `observation`, in key order (so
/// concurrent writers lock rows in the same order), recording which were
/// replacements and which days they fell on; returns the fresh rows.
const UPSERT_STAGED: &str = "
with upserted as (
    insert into observation as o (series_id, observed_at, value, source_id)
    select series_id, observed_at, value, source_id from observation_staging
    order by series_id, observed_at
    on conflict (series_id, observed_at) do update
    set value = excluded.value, source_id = excluded.source_id, recorded_at = now(), replaced = true
    -- A replayed row is left as it is: a retry changes nothing.
    where (o.value, o.source_id) is distinct from (excluded.value, excluded.source_id)
    returning o.series_id, o.observed_at, o.value, o.source_id, o.replaced
),
replaced_days as (
    insert into observation_replaced_day (series_id, day)
    select distinct series_id, (observed_at at time zone 'UTC')::date from upserted where replaced
)
select series_id, observed_at, value, source_id from upserted where not replaced";

/// Recomputes, from raw rows, the rollups of the days where values were
/// replaced. The rollup rows are locked first: a concurrent writer folding
/// fresh rows into one of them then either committed before (and the
/// recomputation sees its rows) or waits and folds its rows in after.
const RECOMPUTE_REPLACED_DAYS: [&str; 3] = [
    "select 1 from observation_daily d join observation_replaced_day r using (series_id, day)
     order by d.series_id, d.day for update of d",
    "insert into observation_daily as d
         (series_id, day, value_sum, value_count, value_min, value_max, last_value, last_observed_at)
     select r.series_id, r.day, sum(o.value), count(*), min(o.value), max(o.value),
            (array_agg(o.value order by o.observed_at desc))[1], max(o.observed_at)
     from observation_replaced_day r
     join observation o on o.series_id = r.series_id
         and o.observed_at >= r.day::timestamp at time zone 'UTC'
         and o.observed_at < (r.day + 1)::timestamp at time zone 'UTC'
     group by r.series_id, r.day
     on conflict (series_id, day) do update set
         value_sum = excluded.value_sum, value_count = excluded.value_count,
         value_min = excluded.value_min, value_max = excluded.value_max,
         last_value = excluded.last_value, last_observed_at = excluded.last_observed_at",
    "truncate observation_replaced_day",
];

#[derive(sqlx::FromRow)]
struct FreshRow {
    series_id: i64,
    observed_at: DateTime<Utc>,
    value: f64,
    source_id: i32,
}

/// Loads a batch that met existing keys: upsert its last row per key, note
/// the days with replacements (recomputed when the load ends) and return the
/// aggregates of the fresh rows with the number of keys written.
async fn upsert_batch(
    conn: &mut PgConnection,
    rows: &[StagedRow],
) -> Result<(DailyPartials, i64), ApiError> {
    sqlx::query("truncate observation_staging")
        .execute(&mut *conn)
        .await?;
    let mut rows = last_per_key(rows);
    rows.sort_by_key(|row| (row.series_id, row.observed_at_micros));
    copy_rows(
        conn,
        "copy observation_staging (series_id, observed_at, value, source_id) from stdin (format binary)",
        &rows,
    )
    .await?;
    let fresh: Vec<FreshRow> = sqlx::query_as(UPSERT_STAGED).fetch_all(&mut *conn).await?;
    let fresh: Vec<StagedRow> = fresh
        .into_iter()
        .map(|row| StagedRow {
            series_id: row.series_id,
            observed_at_micros: row.observed_at.timestamp_micros(),
            value: row.value,
            source_id: row.source_id,
        })
        .collect();
    Ok((daily_partials(&fresh), rows.len() as i64))
}

/// Loads observations into the caller's transaction in batches; see the
/// module documentation.
pub struct Loader<'c> {
    conn: &'c mut PgConnection,
    written: i64,
    scratch_ready: bool,
    /// The last batch's daily aggregates, held back one batch so that a day
    /// split across two batches reaches the deltas in one piece.
    held: DailyPartials,
    /// Whether aggregates wait in the deltas, to be merged at the end.
    deltas_pending: bool,
    /// Whether a batch took the slow path, which may have replaced values
    /// whose days must be recomputed at the end.
    replacements_possible: bool,
}

impl<'c> Loader<'c> {
    /// A loader writing through `conn`, which must be in a transaction.
    pub fn new(conn: &'c mut PgConnection) -> Self {
        Loader {
            conn,
            written: 0,
            scratch_ready: false,
            held: DailyPartials::new(),
            deltas_pending: false,
            replacements_possible: false,
        }
    }

    /// Loads one batch in a savepoint; within it, later rows win over
    /// earlier ones with the same key, and a later batch replaces values of
    /// an earlier one.
    pub async fn load(&mut self, batch: Vec<StagedRow>) -> Result<(), ApiError> {
        if batch.is_empty() {
            return Ok(());
        }
        if !self.scratch_ready {
            ensure_scratch_tables(self.conn).await?;
            self.scratch_ready = true;
        }
        let started = std::time::Instant::now();
        let copied = insert_unless_a_key_exists(self.conn, async |conn| {
            copy_rows(conn, &copy_target(&batch), &batch).await
        })
        .await?;
        let copy_time = started.elapsed();
        let (path, fresh, written) = if copied {
            // The COPY succeeding proves every key of the batch was new.
            ("copy", daily_partials(&batch), batch.len() as i64)
        } else {
            self.replacements_possible = true;
            let (fresh, distinct_keys) = upsert_batch(self.conn, &batch).await?;
            ("upsert", fresh, distinct_keys)
        };
        self.stage_deltas(fresh).await?;
        self.written += written;
        tracing::debug!(
            rows = batch.len(),
            path,
            copy_ms = copy_time.as_secs_f64() * 1000.0,
            total_ms = started.elapsed().as_secs_f64() * 1000.0,
            "loaded a batch of observations"
        );
        Ok(())
    }

    /// Ends the load: the rollups catch up with every batch; returns how
    /// many observations were written (a key written twice counts once per
    /// batch).
    pub async fn finish(mut self) -> Result<i64, ApiError> {
        let held = std::mem::take(&mut self.held);
        self.append(held).await?;
        if self.deltas_pending || self.replacements_possible {
            let started = std::time::Instant::now();
            if self.deltas_pending {
                self.merge_deltas().await?;
            }
            if self.replacements_possible {
                for statement in RECOMPUTE_REPLACED_DAYS {
                    sqlx::query(statement).execute(&mut *self.conn).await?;
                }
            }
            tracing::debug!(
                merge_ms = started.elapsed().as_secs_f64() * 1000.0,
                "merged the rollups of a load"
            );
        }
        Ok(self.written)
    }

    /// Passes a batch's daily aggregates on to the deltas, one batch late:
    /// days the new batch continues are merged into the held ones first.
    async fn stage_deltas(&mut self, mut partials: DailyPartials) -> Result<(), ApiError> {
        let mut held = std::mem::take(&mut self.held);
        partials.retain(|key, partial| match held.get_mut(key) {
            Some(earlier) => {
                *earlier = earlier.merge(*partial);
                false
            }
            None => true,
        });
        self.append(held).await?;
        self.held = partials;
        Ok(())
    }

    /// Appends aggregates to the session's deltas (a temporary table: no
    /// WAL, no index). The rollups themselves are left alone until the load
    /// ends, so a long load does not lock them: a live writer of the same
    /// days goes on meanwhile.
    async fn append(&mut self, partials: DailyPartials) -> Result<(), ApiError> {
        if partials.is_empty() {
            return Ok(());
        }
        copy_partials(
            self.conn,
            "copy observation_daily_delta from stdin (format binary)",
            &partials,
        )
        .await?;
        self.deltas_pending = true;
        Ok(())
    }

    /// Folds the deltas into the rollups: one plain insert when their days
    /// have no rollups and none repeats (a backfill, usually), else the
    /// aggregating upsert.
    async fn merge_deltas(&mut self) -> Result<(), ApiError> {
        let inserted = insert_unless_a_key_exists(self.conn, async |conn| {
            sqlx::query(INSERT_DELTAS).execute(conn).await.map(|_| ())
        })
        .await?;
        if !inserted {
            sqlx::query(MERGE_DELTAS).execute(&mut *self.conn).await?;
        }
        sqlx::query("truncate observation_daily_delta")
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_row_of_a_repeated_key_wins() {
        let row = |value: f64, micros: i64| StagedRow {
            series_id: 1,
            observed_at_micros: micros,
            value,
            source_id: 1,
        };
        let kept = last_per_key(&[row(1.0, 10), row(2.0, 20), row(3.0, 10)]);
        assert_eq!(kept, [row(2.0, 20), row(3.0, 10)]);
    }

    #[test]
    fn batches_aggregate_per_series_and_utc_day() {
        let at = |text: &str| text.parse::<DateTime<Utc>>().unwrap().timestamp_micros();
        let rows = [
            StagedRow {
                series_id: 1,
                observed_at_micros: at("2026-03-01T23:00:00Z"),
                value: 5.0,
                source_id: 1,
            },
            StagedRow {
                series_id: 1,
                observed_at_micros: at("2026-03-01T01:00:00Z"),
                value: 9.0,
                source_id: 1,
            },
            StagedRow {
                series_id: 1,
                observed_at_micros: at("2026-03-02T00:00:00Z"),
                value: 1.0,
                source_id: 1,
            },
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
