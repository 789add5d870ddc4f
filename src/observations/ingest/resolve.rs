//! Validating observations against the catalog and the accounts, and
//! resolving their series and source ids.

use std::collections::{HashMap, HashSet};

use std::ops::{Deref, DerefMut};

use chrono::{DateTime, Utc};
use rustc_hash::{FxHashMap, FxHashSet};
use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::{StagedRow, account_deleted};
use crate::accounts;
use crate::api::names::ACCOUNTS;
use crate::auth::tokens::TokenName;
use crate::error::{ApiError, Violations, violated_constraint};
use crate::observations::model::{ObservationRow, parse_observation};
use crate::pb;

/// Where the resolver reaches the database.
pub enum Lookup<'c> {
    /// A connection is borrowed from the pool for each lookup only, and
    /// series and sources are created in short transactions of their own:
    /// a stream's reader never holds a connection while it waits for the
    /// client, and never asks the pool for a second one while holding one.
    Pool(PgPool),
    /// Everything happens in the caller's transaction, which already holds
    /// a connection (CompleteAudit): asking the pool for another would nest
    /// connections, which can starve the pool.
    Transaction(&'c mut PgConnection),
}

/// A connection lent by a [`Lookup`]: pooled (or a transaction on one),
/// or the caller's.
enum Lent<'a> {
    Pooled(PoolConnection<Postgres>),
    Own(Transaction<'static, Postgres>),
    Borrowed(&'a mut PgConnection),
}

impl Deref for Lent<'_> {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        match self {
            Lent::Pooled(conn) => conn,
            Lent::Own(tx) => tx,
            Lent::Borrowed(conn) => conn,
        }
    }
}

impl DerefMut for Lent<'_> {
    fn deref_mut(&mut self) -> &mut PgConnection {
        match self {
            Lent::Pooled(conn) => conn,
            Lent::Own(tx) => tx,
            Lent::Borrowed(conn) => conn,
        }
    }
}

impl Lookup<'_> {
    async fn conn(&mut self) -> Result<Lent<'_>, ApiError> {
        Ok(match self {
            Lookup::Pool(pool) => Lent::Pooled(pool.acquire().await?),
            Lookup::Transaction(conn) => Lent::Borrowed(conn),
        })
    }

    /// A connection on which series and sources are created so that every
    /// later lookup sees them: for a pool, a short transaction of its own
    /// (rolled back if dropped uncommitted, so a failure never hands the
    /// pool a connection stuck in an aborted transaction), committed by
    /// [`Lent::commit`] without waiting for a WAL flush (see below);
    /// otherwise the caller's transaction.
    ///
    /// Series and sources are created in their own transactions, one per
    /// chunk of a long stream that brings new series: waiting for a WAL
    /// flush at each would flush the stream's own load again and again. It
    /// is safe because WAL is written in order: the commit of any load using
    /// these ids flushes their creation first, and a crash before that loses
    /// only ids nothing refers to.
    async fn creating(&mut self) -> Result<Lent<'_>, ApiError> {
        Ok(match self {
            Lookup::Pool(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("set local synchronous_commit = off")
                    .execute(&mut *tx)
                    .await?;
                Lent::Own(tx)
            }
            Lookup::Transaction(conn) => Lent::Borrowed(conn),
        })
    }
}

impl Lent<'_> {
    /// Commits what [`Lookup::creating`] began on a pooled connection.
    async fn commit(self) -> Result<(), ApiError> {
        if let Lent::Own(tx) = self {
            tx.commit().await?;
        }
        Ok(())
    }
}

/// The ids an observation of one series is stored under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SeriesIds {
    series_id: i64,
    metric_id: i16,
}

/// Validates rows and resolves their ids, remembering what it learnt so a
/// long stream asks the database about each metric, account, series, source
/// and month once.
pub struct Resolver {
    /// Metric key → whether it is a base metric.
    metric_is_base: FxHashMap<String, bool>,
    known_accounts: FxHashSet<Uuid>,
    /// Series ids by metric key, then account: nested so a row's lookup
    /// needs no allocation.
    series: FxHashMap<String, FxHashMap<Option<Uuid>, SeriesIds>>,
    /// Source ids by label, all of them for [`Resolver::token`].
    sources: FxHashMap<String, i32>,
    /// The token whose call writes the rows: a source is a label and a
    /// token, so the provenance costs nothing per row beyond the source id.
    token: Option<TokenName>,
}

impl Resolver {
    /// A resolver reading the current catalog, for rows written by the
    /// call of `token` (`None` without one).
    pub async fn new(db: &mut Lookup<'_>, token: Option<TokenName>) -> Result<Self, ApiError> {
        let kinds: Vec<(String, String)> =
            sqlx::query_as("select metric_key, kind from metric_definition")
                .fetch_all(&mut *db.conn().await?)
                .await?;
        Ok(Resolver {
            metric_is_base: kinds
                .into_iter()
                .map(|(key, kind)| (key, kind == "BASE"))
                .collect(),
            known_accounts: FxHashSet::default(),
            series: FxHashMap::default(),
            sources: FxHashMap::default(),
            token,
        })
    }

    /// Whether `key` names a base metric of the catalog.
    pub fn is_base_metric(&self, key: &str) -> bool {
        self.metric_is_base.get(key).copied().unwrap_or(false)
    }

    /// Validates the observations of one message and resolves their ids:
    /// INVALID_ARGUMENT with every violation, or rows ready to load.
    pub async fn resolve(
        &mut self,
        db: &mut Lookup<'_>,
        observations: &[pb::Observation],
        now: DateTime<Utc>,
    ) -> Result<Vec<StagedRow>, ApiError> {
        let rows = self.check(db, observations, now).await?;
        self.stage(db, &rows).await
    }

    /// Validates every row of one message, reporting all violations as
    /// `observations[i].field`.
    async fn check<'a>(
        &mut self,
        db: &mut Lookup<'_>,
        observations: &'a [pb::Observation],
        now: DateTime<Utc>,
    ) -> Result<Vec<ObservationRow<'a>>, ApiError> {
        let mut violations = Violations::default();
        let mut rows = Vec::with_capacity(observations.len());
        let mut rows_by_account: HashMap<Uuid, Vec<usize>> = HashMap::new();
        for (index, observation) in observations.iter().enumerate() {
            match self.metric_is_base.get(&observation.metric_key) {
                Some(true) => {}
                Some(false) => violations.add(
                    format!("observations[{index}].metric_key"),
                    format!(
                        "{:?} is a derived metric, computed from its formula: write the base metrics it reads instead",
                        observation.metric_key
                    ),
                ),
                None if observation.metric_key.is_empty() => {}
                None => violations.add(
                    format!("observations[{index}].metric_key"),
                    format!("{:?} is not a metric of the catalog: see ListMetricDefinitions", observation.metric_key),
                ),
            }
            let row = parse_observation(&mut violations, index, observation, now);
            // Unknown accounts are reported even on rows with other problems.
            let account_id = match &row {
                Some(row) => row.account_id,
                None => ACCOUNTS.id_of(&observation.account),
            };
            if let Some(account_id) = account_id
                && !self.known_accounts.contains(&account_id)
            {
                rows_by_account.entry(account_id).or_default().push(index);
            }
            rows.extend(row);
        }
        if !rows_by_account.is_empty() {
            let wanted: Vec<Uuid> = rows_by_account.keys().copied().collect();
            let missing: HashSet<Uuid> = accounts::repo::missing(&mut *db.conn().await?, &wanted)
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
        violations.sort_by_key(|violation| violation_order(&violation.field));
        violations.finish(rows)
    }

    /// Resolves the ids of valid rows (their metrics base metrics of the
    /// catalog, their accounts existing), creating missing series and
    /// sources.
    pub async fn stage(
        &mut self,
        db: &mut Lookup<'_>,
        rows: &[ObservationRow<'_>],
    ) -> Result<Vec<StagedRow>, ApiError> {
        // One pass when everything is known, the common case of a long load.
        if let Some(staged) = self.resolve_known(rows) {
            return Ok(staged);
        }
        self.create_missing(db, rows).await?;
        self.resolve_known(rows)
            .ok_or_else(|| ApiError::internal("series or source id was not resolved"))
    }

    fn series_id(&self, row: &ObservationRow<'_>) -> Option<SeriesIds> {
        self.series
            .get(row.metric_key)?
            .get(&row.account_id)
            .copied()
    }

    /// The rows with their ids, if every series and source is known.
    fn resolve_known(&self, rows: &[ObservationRow<'_>]) -> Option<Vec<StagedRow>> {
        rows.iter()
            .map(|row| {
                let ids = self.series_id(row)?;
                Some(StagedRow {
                    series_id: ids.series_id,
                    metric_id: ids.metric_id,
                    observed_at_micros: row.observed_at.timestamp_micros(),
                    value: row.value,
                    source_id: *self.sources.get(row.source)?,
                })
            })
            .collect()
    }

    /// Creates the series and sources of `rows` not known yet, and learns
    /// their ids.
    async fn create_missing(
        &mut self,
        db: &mut Lookup<'_>,
        rows: &[ObservationRow<'_>],
    ) -> Result<(), ApiError> {
        // New series are created in the order rows first name them, so
        // their ids grow along the stream and a backfill's rows (and
        // rollups) land at the right edge of their indexes, where PostgreSQL
        // appends without searching the tree.
        let mut seen = HashSet::new();
        let (keys, accounts): (Vec<&str>, Vec<Option<Uuid>>) = rows
            .iter()
            .filter(|row| self.series_id(row).is_none())
            .map(|row| (row.metric_key, row.account_id))
            .filter(|series| seen.insert(*series))
            .unzip();
        if !keys.is_empty() {
            // Create what is missing, then read every id in a second
            // statement: its fresh snapshot also sees series that a
            // concurrent writer created (and committed) meanwhile.
            let mut creating = db.creating().await?;
            sqlx::query(
                "insert into series (metric_key, account_id, metric_id)
                 select w.metric_key, w.account_id, m.metric_id
                 from unnest($1::text[], $2::uuid[]) with ordinality as w(metric_key, account_id, position)
                 join metric_definition m using (metric_key)
                 order by w.position
                 on conflict on constraint series_metric_account_key do nothing",
            )
            .bind(&keys)
            .bind(&accounts)
            .execute(&mut *creating)
            .await
            .map_err(|error| {
                // Checked moments ago, the account was deleted since.
                if violated_constraint(&error) == Some("series_account_id_fkey") {
                    account_deleted()
                } else {
                    error.into()
                }
            })?;
            creating.commit().await?;
            // Each lookup is an index probe, the organisation-wide series
            // (no account) by a second one: `is not distinct from` would
            // cost a scan of every series.
            let resolved: Vec<(i64, i16, String, Option<Uuid>)> = sqlx::query_as(
                "select s.series_id, s.metric_id, s.metric_key, s.account_id
                 from unnest($1::text[], $2::uuid[]) as w(metric_key, account_id)
                 cross join lateral (
                     select series_id, metric_id, metric_key, account_id from series
                     where metric_key = w.metric_key and account_id = w.account_id
                     union all
                     select series_id, metric_id, metric_key, account_id from series
                     where w.account_id is null and metric_key = w.metric_key and account_id is null
                 ) as s",
            )
            .bind(&keys)
            .bind(&accounts)
            .fetch_all(&mut *db.conn().await?)
            .await?;
            for (series_id, metric_id, metric_key, account_id) in resolved {
                self.series.entry(metric_key).or_default().insert(
                    account_id,
                    SeriesIds {
                        series_id,
                        metric_id,
                    },
                );
            }
        }

        let new_sources: Vec<&str> = rows
            .iter()
            .map(|row| row.source)
            .filter(|source| !self.sources.contains_key(*source))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if !new_sources.is_empty() {
            let token = self.token.as_ref().map(TokenName::as_str);
            let mut creating = db.creating().await?;
            sqlx::query(
                "insert into observation_source (name, token_name) select unnest($1::text[]), $2
                 on conflict on constraint observation_source_name_token_key do nothing",
            )
            .bind(&new_sources)
            .bind(token)
            .execute(&mut *creating)
            .await?;
            creating.commit().await?;
            let resolved: Vec<(i32, String)> = sqlx::query_as(
                "select source_id, name from observation_source
                 where name = any($1) and token_name is not distinct from $2",
            )
            .bind(&new_sources)
            .bind(token)
            .fetch_all(&mut *db.conn().await?)
            .await?;
            self.sources
                .extend(resolved.into_iter().map(|(id, name)| (name, id)));
        }
        Ok(())
    }
}

/// Where a violation of an `observations[i].field` path sorts: by row, then
/// by the field's place in `Observation`.
fn violation_order(path: &str) -> (usize, usize) {
    let row = path
        .strip_prefix("observations[")
        .and_then(|rest| rest.split(']').next())
        .and_then(|index| index.parse().ok())
        .unwrap_or(usize::MAX);
    let field = ["metric_key", "account", "observed_at", "value", "source"]
        .iter()
        .position(|name| path.ends_with(name))
        .unwrap_or(usize::MAX);
    (row, field)
}
