//! Registering selections: which ones goals' key results read, and adding
//! them with their rollups filled from the per-series ones, under the lock
//! the module above describes; and removing those no key result reads any
//! more, under the same lock.

use std::collections::HashSet;

use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::{SelectionKey, SelectionRollups};
use crate::catalog::cache::CatalogCache;
use crate::error::ApiError;
use crate::observations::ingest::fill_selections;
use crate::observations::read::evaluate::MetricPlan;

/// The longest a registration waits for loads to finish their merge; the
/// loads that queue behind it wait no longer either.
pub(super) const LOCK_TIMEOUT: &str = "2s";

impl SelectionRollups {
    /// Registers every selection the metric key results of `goals` read
    /// that is not known yet, all in one transaction.
    pub(super) async fn register_goals(
        &self,
        pool: &PgPool,
        catalog: &CatalogCache,
        goals: &[Uuid],
    ) -> Result<(), ApiError> {
        let mut conn = pool.acquire().await?;
        let wanted: Vec<SelectionKey> = selections_of(&mut conn, catalog, goals)
            .await?
            .into_iter()
            .filter(|key| {
                self.id(&key.metric_key, &key.accounts, key.organisation)
                    .is_none()
            })
            .collect();
        drop(conn);
        if wanted.is_empty() {
            return Ok(());
        }
        for (key, id) in register(pool, wanted).await? {
            self.remember(key, id);
        }
        Ok(())
    }

    /// Removes every selection that no key result reads any more (its key
    /// results deleted, or moved to other accounts or metrics), rollups
    /// and all, so that loads stop keeping them; forgets them here. Other
    /// processes that still know one find it gone at their next read of it
    /// and read its accounts' own rollups, as before a registration.
    /// Returns how many were removed.
    ///
    /// Unused selections are first looked for without a lock, so that the
    /// usual pass, which finds none, never holds up a load. When there are
    /// some, it takes the registration's SHARE lock (no load is merging
    /// while they go, and every load afterwards finds them gone) and looks
    /// again: the key results are read after the lock is taken, so a key
    /// result written before keeps its selection; one written after asks
    /// for it again, and its registration comes after this, in the same
    /// task.
    pub async fn collect_unused(
        &self,
        pool: &PgPool,
        catalog: &CatalogCache,
    ) -> Result<usize, ApiError> {
        let mut conn = pool.acquire().await?;
        if unused(&mut conn, catalog).await?.is_empty() {
            return Ok(0);
        }
        drop(conn);
        let mut tx = locked(pool).await?;
        let unused = unused(&mut tx, catalog).await?;
        if unused.is_empty() {
            return Ok(0);
        }
        // Members and daily rows go with them (on delete cascade).
        sqlx::query("delete from rollup_selection where selection_id = any($1)")
            .bind(&unused)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        for id in &unused {
            self.forget(*id);
        }
        Ok(unused.len())
    }
}

/// The registered selections that no key result of any goal reads.
async fn unused(conn: &mut PgConnection, catalog: &CatalogCache) -> Result<Vec<i32>, ApiError> {
    let goals: Vec<Uuid> = sqlx::query_scalar("select goal_id from goal")
        .fetch_all(&mut *conn)
        .await?;
    let read: HashSet<SelectionKey> = selections_of(conn, catalog, &goals)
        .await?
        .into_iter()
        .collect();
    let registered: Vec<(i32, String, Vec<Uuid>, bool)> = sqlx::query_as(
        "select k.selection_id, m.metric_key, k.accounts, k.organisation
         from rollup_selection k join metric_definition m using (metric_id)",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(registered
        .into_iter()
        .filter(|(_, metric_key, accounts, organisation)| {
            !read.contains(&SelectionKey {
                metric_key: metric_key.clone(),
                accounts: accounts.clone(),
                organisation: *organisation,
            })
        })
        .map(|(id, ..)| id)
        .collect())
}

/// A transaction holding the SHARE lock on the per-series rollups that
/// registering and removing selections take, waiting for it no longer than
/// [`LOCK_TIMEOUT`].
async fn locked(pool: &PgPool) -> Result<Transaction<'static, Postgres>, ApiError> {
    let mut tx = pool.begin().await?;
    sqlx::query(&format!("set local lock_timeout = '{LOCK_TIMEOUT}'"))
        .execute(&mut *tx)
        .await?;
    sqlx::query("lock table observation_daily in share mode")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// The selection keys of the metric key results over some accounts of
/// `goals`: one per composable base metric, without repeats.
async fn selections_of(
    conn: &mut PgConnection,
    catalog: &CatalogCache,
    goals: &[Uuid],
) -> Result<Vec<SelectionKey>, ApiError> {
    let rows: Vec<(String, Vec<Uuid>, bool)> = sqlx::query_as(
        "select k.metric_key,
                coalesce(array_agg(distinct a.account_id)
                         filter (where a.account_id is not null), '{}'),
                bool_or(a.account_id is null)
         from key_result k
         join key_result_account a using (key_result_id)
         where k.goal_id = any($1) and k.metric_key is not null
         group by k.key_result_id, k.metric_key",
    )
    .bind(goals)
    .fetch_all(&mut *conn)
    .await?;
    let catalog = catalog
        .covering(conn, rows.iter().map(|row| row.0.as_str()))
        .await?;
    let mut keys = Vec::new();
    for (metric_key, mut accounts, organisation) in rows {
        accounts.sort();
        let Some(plan) = MetricPlan::resolve(&catalog, &metric_key) else {
            continue;
        };
        for base in plan.composable_keys() {
            let key = SelectionKey {
                metric_key: base.to_owned(),
                accounts: accounts.clone(),
                organisation,
            };
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    Ok(keys)
}

/// Registers the selections `keys` not registered yet and fills their
/// rollups, in one transaction holding a SHARE lock on the per-series
/// rollups; every key's id (none for a metric that no longer exists).
async fn register(
    pool: &PgPool,
    keys: Vec<SelectionKey>,
) -> Result<Vec<(SelectionKey, i32)>, ApiError> {
    let mut tx = locked(pool).await?;
    let mut registered = Vec::with_capacity(keys.len());
    let mut added: Vec<i32> = Vec::new();
    for key in keys {
        let inserted: Option<i32> = sqlx::query_scalar(
            "insert into rollup_selection (metric_id, accounts, organisation)
             select metric_id, $2, $3 from metric_definition where metric_key = $1
             on conflict do nothing
             returning selection_id",
        )
        .bind(&key.metric_key)
        .bind(&key.accounts)
        .bind(key.organisation)
        .fetch_optional(&mut *tx)
        .await?;
        let id = match inserted {
            Some(id) => {
                added.push(id);
                Some(id)
            }
            // Registered before (by another replica), or no such metric.
            None => {
                sqlx::query_scalar(
                    "select k.selection_id
                 from rollup_selection k join metric_definition m using (metric_id)
                 where m.metric_key = $1 and k.accounts = $2 and k.organisation = $3",
                )
                .bind(&key.metric_key)
                .bind(&key.accounts)
                .bind(key.organisation)
                .fetch_optional(&mut *tx)
                .await?
            }
        };
        if let Some(id) = id {
            registered.push((key, id));
        }
    }
    if !added.is_empty() {
        fill_selections(&mut tx, &added).await?;
    }
    tx.commit().await?;
    Ok(registered)
}
