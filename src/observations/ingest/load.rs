//! Loading resolved observations in savepointed batches and keeping the
//! daily rollups in step (see the module documentation of `ingest`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rustc_hash::FxHashSet;
use sqlx::PgConnection;

use super::copy::{ROW_COLUMNS, copy_partials, copy_rows, copy_target};
use super::rollup::{DailyPartials, PendingRollups, daily_partials, merge_pending};
use super::savepoint::{self, Attempt, DeadlockRetries};
use super::{StagedRow, account_deleted};
use crate::error::ApiError;

/// Rows a stream gathers into one batch, loaded in one savepoint: large
/// enough that per-batch overhead vanishes, small enough that a batch held
/// for the slow path costs a few MiB.
pub const BATCH_ROWS: usize = 50_000;

/// How often a batch is tried when PostgreSQL cancels it to break a
/// deadlock with another load. A deadlock between two loads that each
/// wrote, in earlier batches, keys the other now writes cannot be undone by
/// retrying one batch; after these attempts the load fails with ABORTED.
const BATCH_ATTEMPTS: u32 = 3;

/// Creates the session's scratch tables once. Temporary tables are private
/// to the session and skip the WAL; `on commit delete rows` empties them for
/// the connection's next user.
async fn ensure_scratch_tables(conn: &mut PgConnection) -> Result<(), ApiError> {
    sqlx::query(
        "do $$ begin
             if to_regclass('pg_temp.observation_daily_delta') is null then
                 create temp table observation_staging (
                     series_id bigint not null, observed_at timestamptz not null,
                     value double precision not null, source_id integer not null,
                     metric_id smallint not null
                 ) on commit delete rows;
                 create temp table observation_replaced_day (
                     series_id bigint not null, day date not null, primary key (series_id, day)
                 ) on commit delete rows;
                 create temp table observation_daily_delta (
                     series_id bigint not null, day date not null,
                     value_sum double precision not null, value_count bigint not null,
                     value_min double precision not null, value_max double precision not null,
                     last_value double precision not null, last_observed_at timestamptz not null,
                     first_observed_at timestamptz not null
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
/// replacements and which days they fell on; returns the fresh rows. A day
/// already recorded (two batches of one load replacing values of one day)
/// is recorded once.
const UPSERT_STAGED: &str = "
with upserted as (
    insert into observation as o (series_id, observed_at, value, source_id, metric_id)
    select series_id, observed_at, value, source_id, metric_id from observation_staging
    order by series_id, observed_at
    on conflict (series_id, observed_at) do update
    set value = excluded.value, source_id = excluded.source_id, recorded_at = now(), replaced = true
    -- A replayed row is left as it is: a retry changes nothing.
    where (o.value, o.source_id) is distinct from (excluded.value, excluded.source_id)
    returning o.series_id, o.observed_at, o.value, o.source_id, o.metric_id, o.replaced
),
replaced_days as (
    insert into observation_replaced_day (series_id, day)
    select distinct series_id, (observed_at at time zone 'UTC')::date from upserted where replaced
    on conflict (series_id, day) do nothing
)
select series_id, observed_at, value, source_id, metric_id from upserted where not replaced";

#[derive(sqlx::FromRow)]
struct FreshRow {
    series_id: i64,
    observed_at: DateTime<Utc>,
    value: f64,
    source_id: i32,
    metric_id: i16,
}

/// Loads a batch that met existing keys: upsert its last row per key, note
/// the days with replacements (recomputed when the load ends) and return the
/// aggregates of the fresh rows with the number of keys written.
async fn upsert_batch(
    conn: &mut PgConnection,
    rows: &[StagedRow],
) -> Result<(DailyPartials, i64), sqlx::Error> {
    sqlx::query("truncate observation_staging")
        .execute(&mut *conn)
        .await?;
    let mut rows = last_per_key(rows);
    rows.sort_by_key(|row| (row.series_id, row.observed_at_micros));
    copy_rows(
        conn,
        &format!("copy observation_staging {ROW_COLUMNS} from stdin (format binary)"),
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
            metric_id: row.metric_id,
        })
        .collect();
    Ok((daily_partials(&fresh), rows.len() as i64))
}

/// Which way a batch was loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LoadPath {
    /// COPY straight into `observation`: every key was new.
    Copy,
    /// The upsert: some key existed, so values may have been replaced.
    Upsert,
}

/// How a batch was loaded.
struct LoadedBatch {
    path: LoadPath,
    /// The aggregates of its fresh rows per (series, day).
    fresh: DailyPartials,
    /// How many keys it wrote.
    written: i64,
}

/// Loads one batch: the COPY of fresh rows, or, when it meets existing
/// keys, the upsert. Either way in a savepoint, so a deadlock undoes just
/// this batch.
async fn load_batch(
    conn: &mut PgConnection,
    batch: &[StagedRow],
) -> Result<Attempt<LoadedBatch>, sqlx::Error> {
    savepoint::begin(conn, "load_copy").await?;
    let copy = copy_rows(conn, &copy_target(batch), batch).await;
    let copied = savepoint::settle(conn, "load_copy", copy).await?;
    Ok(match copied {
        // The COPY succeeding proves every key of the batch was new.
        Attempt::Done(()) => Attempt::Done(LoadedBatch {
            path: LoadPath::Copy,
            fresh: daily_partials(batch),
            written: batch.len() as i64,
        }),
        Attempt::KeyExists(_) => {
            savepoint::begin(conn, "load_upsert").await?;
            let upsert = upsert_batch(conn, batch).await;
            savepoint::settle(conn, "load_upsert", upsert)
                .await?
                .map(|(fresh, written)| LoadedBatch {
                    path: LoadPath::Upsert,
                    fresh,
                    written,
                })
        }
        Attempt::Deadlocked(error) => Attempt::Deadlocked(error),
    })
}

/// Locks the accounts of `series_ids` against deletion until the
/// transaction ends, and checks that every series still exists.
///
/// Observations have no foreign keys (bulk loads would pay a check per
/// row), so without this a DeleteAccount could pass its "no observations"
/// check while a load's rows are still uncommitted, delete the series, and
/// leave the load to commit rows no query can reach. DeleteAccount locks the
/// account `for update`, which conflicts with `for key share`: whichever
/// comes second waits. A load that comes second finds the series gone and
/// fails, storing nothing; a delete that comes second sees the load's rows
/// and refuses.
async fn hold_accounts(conn: &mut PgConnection, series_ids: &[i64]) -> Result<(), ApiError> {
    sqlx::query(
        "select 1 from account
         where account_id in (select account_id from series where series_id = any($1))
         order by account_id
         for key share",
    )
    .bind(series_ids)
    .execute(&mut *conn)
    .await?;
    // A fresh snapshot: it sees a delete that committed while we waited.
    let present: i64 = sqlx::query_scalar("select count(*) from series where series_id = any($1)")
        .bind(series_ids)
        .fetch_one(&mut *conn)
        .await?;
    if present != series_ids.len() as i64 {
        return Err(account_deleted());
    }
    Ok(())
}

/// Loads observations into the caller's transaction in batches; see the
/// module documentation.
pub struct Loader<'c> {
    conn: &'c mut PgConnection,
    written: i64,
    scratch_ready: bool,
    /// The series whose accounts this load holds (see [`hold_accounts`]).
    held_series: FxHashSet<i64>,
    /// The last batch's daily aggregates, held back one batch so that a day
    /// split across two batches reaches the deltas in one piece.
    held_partials: DailyPartials,
    /// What the end of the load must fold into the rollups.
    pending: PendingRollups,
}

impl<'c> Loader<'c> {
    /// A loader writing through `conn`, which must be in a transaction.
    pub fn new(conn: &'c mut PgConnection) -> Self {
        Loader {
            conn,
            written: 0,
            scratch_ready: false,
            held_series: FxHashSet::default(),
            held_partials: DailyPartials::new(),
            pending: PendingRollups::default(),
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
        self.hold_accounts_of(&batch).await?;
        let started = std::time::Instant::now();
        let mut retries = DeadlockRetries::new(BATCH_ATTEMPTS, "batch");
        let loaded = loop {
            if let Some(loaded) = retries.settle(load_batch(self.conn, &batch).await?)? {
                break loaded;
            }
        };
        if loaded.path == LoadPath::Upsert {
            self.pending.replaced_days = true;
        }
        self.stage_deltas(loaded.fresh).await?;
        self.written += loaded.written;
        tracing::debug!(
            rows = batch.len(),
            path = ?loaded.path,
            attempts = retries.made,
            total_ms = started.elapsed().as_secs_f64() * 1000.0,
            "loaded a batch of observations"
        );
        Ok(())
    }

    /// Ends the load: the rollups catch up with every batch; returns how
    /// many observations were written (a key written twice counts once per
    /// batch).
    pub async fn finish(mut self) -> Result<i64, ApiError> {
        let held = std::mem::take(&mut self.held_partials);
        self.append(held).await?;
        merge_pending(self.conn, self.pending).await?;
        // Watchers on every replica hear of the load once it commits.
        let series: Vec<i64> = self.held_series.iter().copied().collect();
        crate::changes::announce_observations(self.conn, &series).await?;
        Ok(self.written)
    }

    /// Holds the accounts of the batch's series not held yet.
    async fn hold_accounts_of(&mut self, batch: &[StagedRow]) -> Result<(), ApiError> {
        let mut new_series: Vec<i64> = Vec::new();
        let mut previous = None;
        for row in batch {
            // Rows come in runs of one series: look each run up once.
            if previous != Some(row.series_id) && !self.held_series.contains(&row.series_id) {
                new_series.push(row.series_id);
            }
            previous = Some(row.series_id);
        }
        if new_series.is_empty() {
            return Ok(());
        }
        new_series.sort_unstable();
        new_series.dedup();
        hold_accounts(self.conn, &new_series).await?;
        self.held_series.extend(new_series);
        Ok(())
    }

    /// Passes a batch's daily aggregates on to the deltas, one batch late:
    /// days the new batch continues are merged into the held ones first.
    async fn stage_deltas(&mut self, mut partials: DailyPartials) -> Result<(), ApiError> {
        let mut held = std::mem::take(&mut self.held_partials);
        partials.retain(|key, partial| match held.get_mut(key) {
            Some(earlier) => {
                *earlier = earlier.merge(*partial);
                false
            }
            None => true,
        });
        self.append(held).await?;
        self.held_partials = partials;
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
        self.pending.deltas = true;
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
            metric_id: 1,
            observed_at_micros: micros,
            value,
            source_id: 1,
        };
        let kept = last_per_key(&[row(1.0, 10), row(2.0, 20), row(3.0, 10)]);
        assert_eq!(kept, [row(2.0, 20), row(3.0, 10)]);
    }
}
