//! Daily rollups per selection of accounts (migration `selection_rollups`):
//! which selections have them, and the registrar that gives them to the
//! selections key results read.
//!
//! A key result over ten accounts then reads one rollup row per day and
//! base metric instead of ten. Registering a selection takes a SHARE lock
//! on the per-series rollups, so it waits for any load folding values into
//! them (a long backfill's end-of-load merge takes seconds) and makes the
//! next loads wait for it. So it is never done in a caller's call: goal
//! writes and progress reads hand their goal to a background task, and
//! reads use the accounts' own rollups until the selection is registered.
//! The lock is given up after [`LOCK_TIMEOUT`]; the next read of the goal
//! asks again.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use sqlx::{PgConnection, PgPool};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::read::evaluate::MetricPlan;
use crate::catalog::cache::CatalogCache;
use crate::error::ApiError;

/// The longest a registration waits for loads to finish their merge; the
/// loads that queue behind it wait no longer either.
const LOCK_TIMEOUT: &str = "2s";

/// How often a failed registration is tried again by itself (a progress
/// read of the goal asks again after that), the first time after
/// [`RETRY_DELAY`], then twice as late each time.
const RETRIES: u32 = 6;
const RETRY_DELAY: std::time::Duration = std::time::Duration::from_millis(250);

/// One base metric over one selection of accounts: what a selection
/// rollup holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SelectionKey {
    /// The base metric, composable (not LAST).
    pub metric_key: String,
    /// The accounts, sorted, without repeats.
    pub accounts: Vec<Uuid>,
    /// Whether the organisation-wide series belongs to it.
    pub organisation: bool,
}

/// The selections known to have rollups, and the way to ask for more;
/// clones share them. The default never registers anything and knows no
/// selection, so reads made with it use the accounts' own rollups.
#[derive(Clone, Default)]
pub struct SelectionRollups {
    /// Registered selections by key. A selection is never removed while
    /// its metric exists, so what is known stays true.
    known: Arc<RwLock<HashMap<SelectionKey, i32>>>,
    /// Goals whose selections the registrar is asked to register.
    registrar: Option<mpsc::UnboundedSender<Uuid>>,
    /// Goals asked for and not yet taken up, so that many reads of one
    /// goal ask once.
    pending: Arc<Mutex<HashSet<Uuid>>>,
}

impl std::fmt::Debug for SelectionRollups {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SelectionRollups")
            .finish_non_exhaustive()
    }
}

impl SelectionRollups {
    /// The rollups' selection id of `metric_key` over `accounts` (and the
    /// organisation-wide series when `organisation`), when registered.
    pub fn id(&self, metric_key: &str, accounts: &[Uuid], organisation: bool) -> Option<i32> {
        let key = SelectionKey {
            metric_key: metric_key.to_owned(),
            accounts: accounts.to_vec(),
            organisation,
        };
        self.known.read().ok()?.get(&key).copied()
    }

    /// Asks the registrar for the selections of `goal`'s metric key results
    /// (a no-op without one, or when the goal is already asked for).
    pub fn request(&self, goal: Uuid) {
        let Some(registrar) = &self.registrar else {
            return;
        };
        if let Ok(mut pending) = self.pending.lock()
            && pending.insert(goal)
            && registrar.send(goal).is_err()
        {
            pending.remove(&goal);
        }
    }

    /// Forgets the selection `id`: a read did not find it in its snapshot
    /// (registered since the snapshot began, or gone with its metric), so
    /// the next progress read over it asks the registrar again, which
    /// learns which it was.
    pub fn forget(&self, id: i32) {
        if let Ok(mut known) = self.known.write() {
            known.retain(|_, known_id| *known_id != id);
        }
    }

    fn remember(&self, key: SelectionKey, id: i32) {
        if let Ok(mut known) = self.known.write() {
            known.insert(key, id);
        }
    }

    /// Rollups that register the selections of the goals asked for, one
    /// goal at a time, in a task on `pool` that ends with the returned
    /// handle's last clone. It first learns the selections already
    /// registered.
    pub fn start(pool: PgPool, catalog: CatalogCache) -> SelectionRollups {
        let (sender, mut requests) = mpsc::unbounded_channel::<Uuid>();
        let again = sender.downgrade();
        let rollups = SelectionRollups {
            known: Arc::default(),
            registrar: Some(sender),
            pending: Arc::default(),
        };
        // The task holds no sender, so it ends once every handle is gone.
        let task_rollups = SelectionRollups {
            registrar: None,
            ..rollups.clone()
        };
        tokio::spawn(async move {
            if let Err(error) = task_rollups.learn_registered(&pool).await {
                tracing::warn!(%error, "could not read the registered selection rollups");
            }
            let mut failures: HashMap<Uuid, u32> = HashMap::new();
            while let Some(goal) = requests.recv().await {
                // No longer pending once taken: a write to the goal from
                // now on asks again, so its new key results are seen.
                if let Ok(mut pending) = task_rollups.pending.lock() {
                    pending.remove(&goal);
                }
                let Err(error) = task_rollups.register_goal(&pool, &catalog, goal).await else {
                    failures.remove(&goal);
                    continue;
                };
                // Usually the lock's timeout, under a stream of loads: tried
                // again later, less and less often, while reads go on
                // without the selection's rollups.
                let failed = failures.entry(goal).or_default();
                *failed += 1;
                tracing::info!(%error, %goal, attempts = *failed, "selection rollups not registered yet");
                if *failed <= RETRIES {
                    let delay = RETRY_DELAY * 2_u32.pow(*failed - 1);
                    let again = again.clone();
                    let retrying = task_rollups.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        if let Some(sender) = again.upgrade() {
                            SelectionRollups {
                                registrar: Some(sender),
                                ..retrying
                            }
                            .request(goal);
                        }
                    });
                } else {
                    failures.remove(&goal);
                }
            }
        });
        rollups
    }

    async fn learn_registered(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let rows: Vec<(String, Vec<Uuid>, bool, i32)> = sqlx::query_as(
            "select m.metric_key, k.accounts, k.organisation, k.selection_id
             from rollup_selection k join metric_definition m using (metric_id)",
        )
        .fetch_all(pool)
        .await?;
        for (metric_key, accounts, organisation, id) in rows {
            let key = SelectionKey {
                metric_key,
                accounts,
                organisation,
            };
            self.remember(key, id);
        }
        Ok(())
    }

    /// Registers every selection `goal`'s metric key results read that is
    /// not known yet.
    async fn register_goal(
        &self,
        pool: &PgPool,
        catalog: &CatalogCache,
        goal: Uuid,
    ) -> Result<(), ApiError> {
        let mut conn = pool.acquire().await?;
        let wanted = self.selections_of(&mut conn, catalog, goal).await?;
        drop(conn);
        for key in wanted {
            if self
                .id(&key.metric_key, &key.accounts, key.organisation)
                .is_none()
                && let Some(id) = register(pool, &key).await?
            {
                self.remember(key, id);
            }
        }
        Ok(())
    }

    /// The selection keys of `goal`'s metric key results over some accounts:
    /// one per composable base metric.
    async fn selections_of(
        &self,
        conn: &mut PgConnection,
        catalog: &CatalogCache,
        goal: Uuid,
    ) -> Result<Vec<SelectionKey>, ApiError> {
        let rows: Vec<(String, Vec<Uuid>, bool)> = sqlx::query_as(
            "select k.metric_key,
                    coalesce(array_agg(distinct a.account_id)
                             filter (where a.account_id is not null), '{}'),
                    bool_or(a.account_id is null)
             from key_result k
             join key_result_account a using (key_result_id)
             where k.goal_id = $1 and k.metric_key is not null
             group by k.key_result_id, k.metric_key",
        )
        .bind(goal)
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
}

/// Registers the selection `key` and fills its rollups, unless it already
/// is; its id (`None`: no such metric). See the module's doc for the lock.
async fn register(pool: &PgPool, key: &SelectionKey) -> Result<Option<i32>, ApiError> {
    if let Some(id) = registered(pool, key).await? {
        return Ok(Some(id));
    }
    let mut tx = pool.begin().await?;
    sqlx::query(&format!("set local lock_timeout = '{LOCK_TIMEOUT}'"))
        .execute(&mut *tx)
        .await?;
    sqlx::query("lock table observation_daily in share mode")
        .execute(&mut *tx)
        .await?;
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
    let Some(id) = inserted else {
        // Registered meanwhile (by another replica), or no such metric.
        tx.commit().await?;
        return registered(pool, key).await;
    };
    for statement in FILL_SELECTION.iter() {
        sqlx::query(statement).bind(id).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(Some(id))
}

/// The id of the selection `key`, when registered.
async fn registered(pool: &PgPool, key: &SelectionKey) -> Result<Option<i32>, ApiError> {
    Ok(sqlx::query_scalar(
        "select k.selection_id
         from rollup_selection k join metric_definition m using (metric_id)
         where m.metric_key = $1 and k.accounts = $2 and k.organisation = $3",
    )
    .bind(&key.metric_key)
    .bind(&key.accounts)
    .bind(key.organisation)
    .fetch_optional(pool)
    .await?)
}

/// The nil account, standing for the organisation-wide series among a
/// selection's members.
pub const ORGANISATION_MEMBER: &str = "'00000000-0000-0000-0000-000000000000'::uuid";

/// A new selection `$1`'s members, then its rollups from its series'.
static FILL_SELECTION: std::sync::LazyLock<[String; 2]> = std::sync::LazyLock::new(|| {
    [
        format!(
            "insert into rollup_selection_member (metric_id, account_id, selection_id)
             select k.metric_id, a.account_id, k.selection_id
             from rollup_selection k
             cross join lateral unnest(
                 k.accounts || case when k.organisation then array[{ORGANISATION_MEMBER}] end
             ) as a(account_id)
             where k.selection_id = $1"
        ),
        format!(
            "insert into observation_daily_selection
                 (selection_id, day, value_sum, value_count, value_min, value_max,
                  last_observed_at, first_observed_at)
             select m.selection_id, d.day, sum(d.value_sum), sum(d.value_count),
                    min(d.value_min), max(d.value_max), max(d.last_observed_at),
                    min(d.first_observed_at)
             from rollup_selection_member m
             join metric_definition md on md.metric_id = m.metric_id
             join series s on s.metric_key = md.metric_key
                 and coalesce(s.account_id, {ORGANISATION_MEMBER}) = m.account_id
             join observation_daily d on d.series_id = s.series_id
             where m.selection_id = $1
             group by m.selection_id, d.day"
        ),
    ]
});
