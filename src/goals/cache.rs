//! An exact in-process cache of goals as GetGoal reads them (DESIGN §4:
//! goals are small and read often).
//!
//! Exactness rests on three rules:
//! - this process forgets a goal after each of its own writes to it commits
//!   and before the write is answered ([`GoalCache::forget`]), so a caller
//!   that was told "done" reads the change next, here;
//! - every replica forgets a goal when it hears the goal's change
//!   notification, which the database triggers send at commit for any write,
//!   by any replica or by hand ([`Follower`]);
//! - while this process is not listening, nothing is served from the cache:
//!   it is emptied when the listener is lost and again once it listens anew,
//!   since notifications sent meanwhile are gone.
//!
//! A reader that loaded a goal may store it only if nothing was forgotten
//! since it started loading ([`GoalCache::ticket`]): a load that began
//! before a write committed can never put the old goal back after the write
//! forgot it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sqlx::PgConnection;
use uuid::Uuid;

use super::model::Goal;
use super::repo;
use crate::api::names::GOALS;
use crate::changes::{Change, Follower};
use crate::error::ApiError;
use crate::telemetry::exporter;

/// How many goals are kept; past it an arbitrary one makes room.
const CAPACITY: usize = 10_000;

/// How long a goal is served before it is read again anyway: a bound on the
/// harm of a change nobody announced (a write while the listener was cut off
/// without noticing). Announced changes take effect at once.
const MAX_AGE: Duration = Duration::from_secs(30);

/// The cache; clones share it.
#[derive(Clone)]
pub struct GoalCache {
    shared: Arc<Shared>,
}

struct Shared {
    entries: RwLock<Entries>,
    /// Whether the change listener is listening; the cache is bypassed
    /// while it is not.
    listening: AtomicBool,
}

#[derive(Default)]
struct Entries {
    goals: HashMap<Uuid, Cached>,
    /// Counts forgettings; a load may store its goal only if this has not
    /// moved since it started.
    generation: u64,
}

struct Cached {
    goal: Arc<Goal>,
    loaded: Instant,
}

/// Taken before a load from the database; lets [`GoalCache::store`] tell
/// whether the loaded goal may be stale.
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    generation: u64,
}

impl Default for GoalCache {
    fn default() -> Self {
        GoalCache::new()
    }
}

impl std::fmt::Debug for GoalCache {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("GoalCache")
            .field("listening", &self.shared.listening.load(Ordering::Acquire))
            .finish_non_exhaustive()
    }
}

impl GoalCache {
    /// An empty cache, serving as soon as it is told the listener listens.
    pub fn new() -> Self {
        GoalCache {
            shared: Arc::new(Shared {
                entries: RwLock::new(Entries::default()),
                listening: AtomicBool::new(false),
            }),
        }
    }

    /// The goal, when it is cached, fresh, and the listener is listening.
    pub fn get(&self, id: Uuid) -> Option<Arc<Goal>> {
        if !self.shared.listening.load(Ordering::Acquire) {
            return None;
        }
        let entries = self.shared.entries.read().ok()?;
        let cached = entries.goals.get(&id)?;
        (cached.loaded.elapsed() < MAX_AGE).then(|| cached.goal.clone())
    }

    /// [`GoalCache::get`], counted in `goalpost_goal_cache_reads_total` as
    /// a hit or a miss.
    pub fn lookup(&self, id: Uuid) -> Option<Arc<Goal>> {
        let cached = self.get(id);
        exporter::goal_cache_read(cached.is_some());
        cached
    }

    /// Reads the goal through `conn` and keeps it for the next reader (when
    /// nothing was forgotten meanwhile); NOT_FOUND when it does not exist.
    pub async fn load(&self, conn: &mut PgConnection, id: Uuid) -> Result<Arc<Goal>, ApiError> {
        let ticket = self.ticket();
        let goal = repo::get_goal(conn, id)
            .await?
            .ok_or_else(|| GOALS.not_found(id))?;
        let goal = Arc::new(goal);
        self.store(ticket, goal.clone());
        Ok(goal)
    }

    /// The goal from the cache, else loaded in the caller's snapshot.
    pub async fn get_or_load(
        &self,
        conn: &mut PgConnection,
        id: Uuid,
    ) -> Result<Arc<Goal>, ApiError> {
        match self.lookup(id) {
            Some(goal) => Ok(goal),
            None => self.load(conn, id).await,
        }
    }

    /// Take before reading a goal from the database, then hand to
    /// [`GoalCache::store`].
    pub fn ticket(&self) -> Ticket {
        let generation = self
            .shared
            .entries
            .read()
            .map_or(u64::MAX, |entries| entries.generation);
        Ticket { generation }
    }

    /// Keeps a goal read from the database after `ticket` was taken, unless
    /// something was forgotten meanwhile (then the goal may predate that
    /// write) or the listener is not listening.
    pub fn store(&self, ticket: Ticket, goal: Arc<Goal>) {
        if !self.shared.listening.load(Ordering::Acquire) {
            return;
        }
        let Ok(mut entries) = self.shared.entries.write() else {
            return;
        };
        if entries.generation != ticket.generation {
            return;
        }
        if entries.goals.len() >= CAPACITY
            && !entries.goals.contains_key(&goal.id)
            && let Some(victim) = entries.goals.keys().next().copied()
        {
            entries.goals.remove(&victim);
        }
        entries.goals.insert(
            goal.id,
            Cached {
                goal,
                loaded: Instant::now(),
            },
        );
    }

    /// Forgets one goal: call after a write to it commits, before answering.
    pub fn forget(&self, id: Uuid) {
        self.change(|goals| {
            goals.remove(&id);
        });
    }

    /// Forgets every goal.
    pub fn forget_all(&self) {
        self.change(HashMap::clear);
    }

    fn change(&self, forget: impl FnOnce(&mut HashMap<Uuid, Cached>)) {
        match self.shared.entries.write() {
            Ok(mut entries) => {
                entries.generation = entries.generation.wrapping_add(1);
                forget(&mut entries.goals);
            }
            // A panic while the lock was held: serve nothing from now on.
            Err(_) => self.shared.listening.store(false, Ordering::Release),
        }
    }

    /// How many goals are cached.
    pub fn len(&self) -> usize {
        self.shared
            .entries
            .read()
            .map_or(0, |entries| entries.goals.len())
    }

    /// Whether no goal is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Follower for GoalCache {
    fn heard(&self, change: Option<&Change>) {
        match change {
            Some(Change::Goal(id)) => self.forget(*id),
            Some(Change::Observations { .. } | Change::Catalog) => {}
            // A payload this build cannot read may name any goal.
            None => self.forget_all(),
        }
    }

    fn deafened(&self) {
        self.shared.listening.store(false, Ordering::Release);
        self.forget_all();
    }

    fn listening(&self) {
        // Forget before serving again: whatever was announced while deaf is
        // lost.
        self.forget_all();
        self.shared.listening.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::goals::model::tests::sample_goal;

    fn listening_cache() -> GoalCache {
        let cache = GoalCache::new();
        cache.listening();
        cache
    }

    #[test]
    fn a_stored_goal_is_served_until_forgotten() {
        let cache = listening_cache();
        let goal = Arc::new(sample_goal());
        cache.store(cache.ticket(), goal.clone());
        assert_eq!(cache.get(goal.id).map(|cached| cached.id), Some(goal.id));
        cache.heard(Some(&Change::Goal(goal.id)));
        assert!(cache.get(goal.id).is_none());
    }

    #[test]
    fn a_load_that_began_before_a_write_is_not_stored() {
        let cache = listening_cache();
        let goal = Arc::new(sample_goal());
        let ticket = cache.ticket();
        // A write to any goal commits while the load runs.
        cache.forget(Uuid::now_v7());
        cache.store(ticket, goal.clone());
        assert!(cache.get(goal.id).is_none());
    }

    #[test]
    fn nothing_is_served_or_kept_while_not_listening() {
        let cache = GoalCache::new();
        let goal = Arc::new(sample_goal());
        cache.store(cache.ticket(), goal.clone());
        assert!(cache.is_empty(), "not listening yet");

        cache.listening();
        cache.store(cache.ticket(), goal.clone());
        cache.deafened();
        assert!(cache.get(goal.id).is_none());
        cache.listening();
        assert!(cache.get(goal.id).is_none(), "emptied when deafened");
    }

    #[test]
    fn an_unreadable_notification_forgets_everything() {
        let cache = listening_cache();
        let goal = Arc::new(sample_goal());
        cache.store(cache.ticket(), goal.clone());
        cache.heard(Some(&Change::Observations {
            metric_key: "likes".into(),
            accounts: crate::changes::Accounts::Every,
        }));
        assert!(cache.get(goal.id).is_some(), "observations change no goal");
        cache.heard(None);
        assert!(cache.get(goal.id).is_none());
    }
}
