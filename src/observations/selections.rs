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
//! The lock is given up after a short timeout (`register::LOCK_TIMEOUT`)
//! and the registration tried again later. The same task removes, a minute
//! after start and hourly, the selections no key result reads any more
//! ([`SelectionRollups::collect_unused`]), so that loads stop keeping them.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use sqlx::PgPool;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::catalog::cache::CatalogCache;

mod register;

/// How often a failed registration is tried again by itself (a progress
/// read of the goal asks again after that), the first time after
/// [`RETRY_DELAY`], then twice as late each time.
const RETRIES: u32 = 6;
const RETRY_DELAY: std::time::Duration = std::time::Duration::from_millis(250);

/// Goals registered together at most.
const BATCH: usize = 256;

/// How long after start the registrar first removes the selections no key
/// result reads any more, and how often it does again: each one left costs
/// every load that touches its accounts an upsert.
const FIRST_COLLECTION: std::time::Duration = std::time::Duration::from_secs(60);
const COLLECT_EVERY: std::time::Duration = std::time::Duration::from_secs(3_600);

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

    /// Rollups that register the selections of the goals asked for, in a
    /// task on `pool` (one connection of its own: a registration can wait
    /// seconds for the lock, and must not hold a slot calls need meanwhile)
    /// that ends with the returned handle's last clone. It first learns the
    /// selections already registered.
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
            let mut collections = tokio::time::interval_at(
                tokio::time::Instant::now() + FIRST_COLLECTION,
                COLLECT_EVERY,
            );
            loop {
                let first = tokio::select! {
                    request = requests.recv() => match request {
                        Some(goal) => goal,
                        None => break,
                    },
                    _ = collections.tick() => {
                        // Under a stream of loads the lock may not come:
                        // tried again at the next tick.
                        match task_rollups.collect_unused(&pool, &catalog).await {
                            Ok(0) => {}
                            Ok(removed) => tracing::info!(removed, "unused selection rollups removed"),
                            Err(error) => tracing::info!(%error, "unused selection rollups not removed yet"),
                        }
                        continue;
                    }
                };
                // Every goal asked for meanwhile too, registered together:
                // one lock and one fill for a burst of goal writes.
                let mut goals = vec![first];
                while goals.len() < BATCH
                    && let Ok(goal) = requests.try_recv()
                {
                    goals.push(goal);
                }
                // No longer pending once taken: a write to a goal from
                // now on asks again, so its new key results are seen.
                if let Ok(mut pending) = task_rollups.pending.lock() {
                    for goal in &goals {
                        pending.remove(goal);
                    }
                }
                let Err(error) = task_rollups.register_goals(&pool, &catalog, &goals).await else {
                    for goal in &goals {
                        failures.remove(goal);
                    }
                    continue;
                };
                // Usually the lock's timeout, under a stream of loads: tried
                // again later, less and less often, while reads go on
                // without the selections' rollups.
                tracing::info!(%error, goals = goals.len(), "selection rollups not registered yet");
                for goal in goals {
                    let failed = failures.entry(goal).or_default();
                    *failed += 1;
                    if *failed > RETRIES {
                        failures.remove(&goal);
                        continue;
                    }
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
}
