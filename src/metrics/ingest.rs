//! Observation ingestion, shared by WriteObservations, StreamObservations
//! and completed audits.
//!
//! Rows are validated, their series and source ids resolved, then streamed
//! with binary COPY into a per-session temporary staging table inside the
//! caller's transaction, and merged into `observation` by one set-based
//! upsert that also keeps `observation_daily` in step:
//!
//! - fresh rows are folded into their day's rollup incrementally (sum, count,
//!   min, max, last);
//! - a replaced value can lower a maximum or move the last value, so each day
//!   with a replacement is recomputed from its raw rows.
//!
//! Series, sources and monthly partitions are created in their own short
//! transactions before the load: they are harmless if the load fails, and a
//! long load then never holds locks that other writers or readers wait on.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, Utc};
use sqlx::postgres::PgCopyIn;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::model::{MAX_OBSERVATIONS_PER_MESSAGE, ObservationRow, parse_observation};
use crate::accounts;
use crate::error::{ApiError, Violations};
use crate::pb;

/// A row ready for COPY: every reference resolved to an id.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StagedRow {
    /// The series (metric, account).
    pub series_id: i64,
    /// When, in microseconds since the Unix epoch.
    pub observed_at_micros: i64,
    /// The value.
    pub value: f64,
    /// The source label's id.
    pub source_id: i32,
}

/// Checks a message's count of observations: at least one, at most the limit.
pub fn check_batch_size(count: usize) -> Result<(), ApiError> {
    if count == 0 {
        return Err(ApiError::invalid_field(
            "observations",
            "must hold at least one observation",
        ));
    }
    if count > MAX_OBSERVATIONS_PER_MESSAGE {
        return Err(ApiError::invalid_field(
            "observations",
            format!(
                "holds {count} observations, at most {MAX_OBSERVATIONS_PER_MESSAGE} are allowed per message: split the batch or use StreamObservations"
            ),
        ));
    }
    Ok(())
}

/// Validates rows and resolves their ids, remembering what it learnt so a
/// long stream asks the database about each metric, account, series, source
/// and month once.
pub struct Resolver {
    pool: PgPool,
    /// Metric key → whether it is a base metric.
    metric_is_base: HashMap<String, bool>,
    known_accounts: HashSet<Uuid>,
    series: HashMap<(String, Option<Uuid>), i64>,
    sources: HashMap<String, i32>,
    /// (year, month) pairs whose partitions exist.
    months: HashSet<(i32, u32)>,
}

impl Resolver {
    /// A resolver reading the current catalog.
    pub async fn new(pool: &PgPool) -> Result<Self, ApiError> {
        let kinds: Vec<(String, String)> =
            sqlx::query_as("select metric_key, kind from metric_definition")
                .fetch_all(pool)
                .await?;
        Ok(Resolver {
            pool: pool.clone(),
            metric_is_base: kinds
                .into_iter()
                .map(|(key, kind)| (key, kind == "BASE"))
                .collect(),
            known_accounts: HashSet::new(),
            series: HashMap::new(),
            sources: HashMap::new(),
            months: HashSet::new(),
        })
    }

    /// Whether `key` names a base metric of the catalog.
    pub fn is_base_metric(&self, key: &str) -> bool {
        self.metric_is_base.get(key).copied().unwrap_or(false)
    }

    /// Validates every row of one message, reporting all violations as
    /// `observations[i].field`.
    pub async fn check(
        &mut self,
        observations: &[pb::Observation],
        now: DateTime<Utc>,
    ) -> Result<Vec<ObservationRow>, ApiError> {
        let mut violations = Violations::default();
        let mut rows = Vec::with_capacity(observations.len());
        let mut rows_by_account: HashMap<Uuid, Vec<usize>> = HashMap::new();
        for (index, observation) in observations.iter().enumerate() {
            let prefix = format!("observations[{index}]");
            match self.metric_is_base.get(&observation.metric_key) {
                Some(true) => {}
                Some(false) => violations.add(
                    format!("{prefix}.metric_key"),
                    format!(
                        "{:?} is a derived metric, computed from its formula: write the base metrics it reads instead",
                        observation.metric_key
                    ),
                ),
                None if observation.metric_key.is_empty() => {}
                None => violations.add(
                    format!("{prefix}.metric_key"),
                    format!("{:?} is not a metric of the catalog: see ListMetricDefinitions", observation.metric_key),
                ),
            }
            if let Some(row) = parse_observation(&mut violations, &prefix, observation, now) {
                if let Some(account_id) = row.account_id
                    && !self.known_accounts.contains(&account_id)
                {
                    rows_by_account.entry(account_id).or_default().push(index);
                }
                rows.push(row);
            }
        }
        if !rows_by_account.is_empty() {
            let wanted: Vec<Uuid> = rows_by_account.keys().copied().collect();
            let missing: HashSet<Uuid> = accounts::repo::missing(&self.pool, &wanted)
                .await?
                .into_iter()
                .collect();
            for (account_id, indexes) in &rows_by_account {
                if missing.contains(account_id) {
                    for index in indexes {
                        violations.add(
                            format!("observations[{index}].account"),
                            format!(
                                "accounts/{account_id} does not exist: create the account first"
                            ),
                        );
                    }
                } else {
                    self.known_accounts.insert(*account_id);
                }
            }
        }
        // Account checks come last; report in row order all the same.
        violations.sort_by_key(|violation| row_index(&violation.field));
        violations.finish(rows)
    }

    /// Resolves the ids of valid rows, creating missing series, sources and
    /// partitions.
    pub async fn stage(&mut self, rows: &[ObservationRow]) -> Result<Vec<StagedRow>, ApiError> {
        let new_series: Vec<(String, Option<Uuid>)> = rows
            .iter()
            .map(|row| (row.metric_key.clone(), row.account_id))
            .filter(|key| !self.series.contains_key(key))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if !new_series.is_empty() {
            let (keys, accounts): (Vec<String>, Vec<Option<Uuid>>) = new_series.into_iter().unzip();
            let resolved: Vec<(i64, String, Option<Uuid>)> = sqlx::query_as(
                "with wanted as (select * from unnest($1::text[], $2::uuid[]) as w(metric_key, account_id)),
                 created as (
                     insert into series (metric_key, account_id) select metric_key, account_id from wanted
                     on conflict on constraint series_metric_account_key do nothing
                     returning series_id, metric_key, account_id
                 )
                 select series_id, metric_key, account_id from created
                 union all
                 select s.series_id, s.metric_key, s.account_id
                 from series s join wanted w on s.metric_key = w.metric_key and s.account_id is not distinct from w.account_id",
            )
            .bind(&keys)
            .bind(&accounts)
            .fetch_all(&self.pool)
            .await?;
            for (series_id, metric_key, account_id) in resolved {
                self.series.insert((metric_key, account_id), series_id);
            }
        }

        let new_sources: Vec<&str> = rows
            .iter()
            .map(|row| row.source.as_str())
            .filter(|source| !self.sources.contains_key(*source))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if !new_sources.is_empty() {
            let resolved: Vec<(i32, String)> = sqlx::query_as(
                "with created as (
                     insert into observation_source (name) select unnest($1::text[])
                     on conflict (name) do nothing returning source_id, name
                 )
                 select source_id, name from created
                 union all
                 select source_id, name from observation_source where name = any($1)",
            )
            .bind(&new_sources)
            .fetch_all(&self.pool)
            .await?;
            self.sources
                .extend(resolved.into_iter().map(|(id, name)| (name, id)));
        }

        let new_months: Vec<DateTime<Utc>> = rows
            .iter()
            .filter(|row| {
                !self
                    .months
                    .contains(&(row.observed_at.year(), row.observed_at.month()))
            })
            .map(|row| row.observed_at)
            .collect();
        if !new_months.is_empty() {
            sqlx::query("select ensure_observation_partitions($1)")
                .bind(&new_months)
                .execute(&self.pool)
                .await?;
            self.months
                .extend(new_months.iter().map(|time| (time.year(), time.month())));
        }

        rows.iter()
            .map(|row| {
                let series_id = self
                    .series
                    .get(&(row.metric_key.clone(), row.account_id))
                    .copied();
                let source_id = self.sources.get(&row.source).copied();
                match (series_id, source_id) {
                    (Some(series_id), Some(source_id)) => Ok(StagedRow {
                        series_id,
                        observed_at_micros: row.observed_at.timestamp_micros(),
                        value: row.value,
                        source_id,
                    }),
                    _ => Err(ApiError::internal("series or source id was not resolved")),
                }
            })
            .collect()
    }
}

/// The row index of an `observations[i]…` field path.
fn row_index(field: &str) -> usize {
    field
        .strip_prefix("observations[")
        .and_then(|rest| rest.split(']').next())
        .and_then(|index| index.parse().ok())
        .unwrap_or(usize::MAX)
}

/// Microseconds between the Unix epoch and PostgreSQL's epoch, 2000-01-01.
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// The binary COPY header: signature, flags, header extension length.
const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Appends one staging row in binary COPY format: a field count, then each
/// field as a length and its big-endian bytes. Five fixed-size fields make
/// this simpler than pulling in a COPY encoder crate.
fn encode_row(buffer: &mut Vec<u8>, sequence: i64, row: &StagedRow) {
    buffer.extend_from_slice(&5_i16.to_be_bytes());
    buffer.extend_from_slice(&8_i32.to_be_bytes());
    buffer.extend_from_slice(&sequence.to_be_bytes());
    buffer.extend_from_slice(&8_i32.to_be_bytes());
    buffer.extend_from_slice(&row.series_id.to_be_bytes());
    buffer.extend_from_slice(&8_i32.to_be_bytes());
    buffer.extend_from_slice(&(row.observed_at_micros - POSTGRES_EPOCH_MICROS).to_be_bytes());
    buffer.extend_from_slice(&8_i32.to_be_bytes());
    buffer.extend_from_slice(&row.value.to_be_bytes());
    buffer.extend_from_slice(&4_i32.to_be_bytes());
    buffer.extend_from_slice(&row.source_id.to_be_bytes());
}

/// An open COPY into the staging table of a transaction.
pub struct Loader<'c> {
    copy: PgCopyIn<&'c mut PgConnection>,
    sequence: i64,
    buffer: Vec<u8>,
}

impl<'c> Loader<'c> {
    /// Makes sure the session's staging tables exist and starts the COPY.
    pub async fn open(conn: &'c mut PgConnection) -> Result<Self, ApiError> {
        // Temporary tables are private to the session and skip the WAL; `on
        // commit delete rows` empties them for the connection's next user.
        sqlx::query(
            "do $$ begin
                 if to_regclass('pg_temp.observation_staging') is null then
                     create temp table observation_staging (
                         sequence bigint not null, series_id bigint not null, observed_at timestamptz not null,
                         value double precision not null, source_id integer not null
                     ) on commit delete rows;
                     create temp table observation_replaced_day (
                         series_id bigint not null, day date not null, primary key (series_id, day)
                     ) on commit delete rows;
                 end if;
             end $$",
        )
        .execute(&mut *conn)
        .await?;
        let mut copy = conn
            .copy_in_raw("copy observation_staging (sequence, series_id, observed_at, value, source_id) from stdin (format binary)")
            .await?;
        copy.send(COPY_HEADER).await?;
        Ok(Loader {
            copy,
            sequence: 0,
            buffer: Vec::new(),
        })
    }

    /// Sends rows; later rows win over earlier ones with the same key.
    pub async fn push(&mut self, rows: &[StagedRow]) -> Result<(), ApiError> {
        self.buffer.clear();
        for row in rows {
            encode_row(&mut self.buffer, self.sequence, row);
            self.sequence += 1;
        }
        self.copy.send(self.buffer.as_slice()).await?;
        Ok(())
    }

    /// How many rows were pushed.
    pub fn rows(&self) -> i64 {
        self.sequence
    }

    /// Ends the COPY.
    pub async fn close(mut self) -> Result<(), ApiError> {
        self.copy.send(&(-1_i16).to_be_bytes()[..]).await?;
        self.copy.finish().await?;
        Ok(())
    }

    /// Abandons the COPY, so the transaction can be rolled back cleanly.
    pub async fn abort(self, reason: &str) {
        if let Err(error) = self.copy.abort(reason).await {
            tracing::debug!(%error, "aborting the staging copy");
        }
    }
}

/// Upserts the staged rows into `observation` and folds fresh rows into
/// their rollups; `{rows}` is where the rows come from.
const MERGE: &str = "
with upserted as (
    insert into observation as o (series_id, observed_at, value, source_id)
    select series_id, observed_at, value, source_id from {rows}
    on conflict (series_id, observed_at) do update
    set value = excluded.value, source_id = excluded.source_id, recorded_at = now(), replaced = true
    returning o.series_id, o.observed_at, o.value, o.replaced
),
replaced_days as (
    insert into observation_replaced_day (series_id, day)
    select distinct series_id, (observed_at at time zone 'UTC')::date from upserted where replaced
),
merged as (
    insert into observation_daily as d
        (series_id, day, value_sum, value_count, value_min, value_max, last_value, last_observed_at)
    select series_id, (observed_at at time zone 'UTC')::date, sum(value), count(*), min(value), max(value),
           (array_agg(value order by observed_at desc))[1], max(observed_at)
    from upserted where not replaced
    group by 1, 2
    on conflict (series_id, day) do update set
        value_sum = d.value_sum + excluded.value_sum,
        value_count = d.value_count + excluded.value_count,
        value_min = least(d.value_min, excluded.value_min),
        value_max = greatest(d.value_max, excluded.value_max),
        last_value = case when excluded.last_observed_at > d.last_observed_at
                          then excluded.last_value else d.last_value end,
        last_observed_at = greatest(d.last_observed_at, excluded.last_observed_at)
)
select count(*) from upserted";

/// The staged rows as they are, for the common case of no repeated key.
const ALL_STAGED: &str = "observation_staging";

/// The last staged row of each key, when a load repeats keys (one upsert
/// cannot touch a row twice).
const LAST_STAGED_PER_KEY: &str =
    "(select distinct on (series_id, observed_at) * from observation_staging
      order by series_id, observed_at, sequence desc) as last_per_key";

/// SQLSTATE cardinality_violation: an upsert met the same key twice.
const REPEATED_KEY: &str = "21000";

/// Merges the staged rows into observations and rollups in the caller's
/// transaction; returns how many observations were written (repeated keys
/// counted once).
pub async fn merge(conn: &mut PgConnection) -> Result<i64, ApiError> {
    sqlx::query("savepoint merge_staged")
        .execute(&mut *conn)
        .await?;
    let written = match sqlx::query_scalar(&MERGE.replace("{rows}", ALL_STAGED))
        .fetch_one(&mut *conn)
        .await
    {
        Ok(written) => written,
        Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some(REPEATED_KEY) => {
            sqlx::query("rollback to savepoint merge_staged")
                .execute(&mut *conn)
                .await?;
            sqlx::query_scalar(&MERGE.replace("{rows}", LAST_STAGED_PER_KEY))
                .fetch_one(&mut *conn)
                .await?
        }
        Err(error) => return Err(error.into()),
    };
    sqlx::query("release savepoint merge_staged")
        .execute(&mut *conn)
        .await?;

    // Lock the rollups of days with replaced values first: a concurrent writer
    // folding fresh rows into one of them then either committed before (and
    // the recomputation below sees its rows) or waits and folds its rows into
    // the recomputed rollup after.
    sqlx::query(
        "select 1 from observation_daily d join observation_replaced_day r using (series_id, day)
         order by d.series_id, d.day for update of d",
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query(
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
    )
    .execute(&mut *conn)
    .await?;
    Ok(written)
}

/// Stages and merges one batch of resolved rows inside the caller's
/// transaction `conn`; returns how many observations were written.
pub async fn write_in(conn: &mut PgConnection, rows: &[StagedRow]) -> Result<i64, ApiError> {
    let mut loader = Loader::open(conn).await?;
    if let Err(error) = loader.push(rows).await {
        loader.abort("push failed").await;
        return Err(error);
    }
    loader.close().await?;
    merge(conn).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_encode_as_five_big_endian_fields() {
        let mut buffer = Vec::new();
        let row = StagedRow {
            series_id: 7,
            observed_at_micros: POSTGRES_EPOCH_MICROS + 1,
            value: 1.5,
            source_id: 3,
        };
        encode_row(&mut buffer, 9, &row);
        assert_eq!(buffer.len(), 2 + 4 * 4 + 8 * 4 + 4 + 4);
        assert_eq!(&buffer[..2], &[0, 5]);
        assert_eq!(&buffer[6..14], &9_i64.to_be_bytes());
        assert_eq!(
            &buffer[30..38],
            &1_i64.to_be_bytes(),
            "timestamps count from 2000-01-01"
        );
        assert_eq!(&buffer[42..50], &1.5_f64.to_be_bytes());
        assert_eq!(&buffer[54..58], &3_i32.to_be_bytes());
    }

    #[test]
    fn batch_sizes_are_bounded() {
        assert!(check_batch_size(0).is_err());
        assert!(check_batch_size(1).is_ok());
        assert!(check_batch_size(MAX_OBSERVATIONS_PER_MESSAGE).is_ok());
        assert!(check_batch_size(MAX_OBSERVATIONS_PER_MESSAGE + 1).is_err());
    }
}
