//! The metric catalog kept in memory for the reads that need it on every
//! call (progress, QueryMetric): two statements fewer per answer.
//!
//! Exactness rests on the same rules as the [goal cache]
//! (crate::goals::cache):
//! - the API only adds definitions, never changes one, so a catalog that
//!   lacks a key a read needs is read again ([`CatalogCache::covering`]):
//!   a definition created a moment ago, here or on another replica, is used
//!   at once;
//! - anything else (a definition edited or removed by hand) is announced by
//!   the catalog's triggers, and every replica forgets its catalog when it
//!   hears that ([`Follower`]);
//! - while the change listener is not listening, the catalog is read anew
//!   for every call, and a load that began before a forgetting is not kept.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sqlx::PgConnection;

use super::repo::{self, MetricRecord};
use crate::changes::{Change, Follower};
use crate::error::ApiError;

/// Every definition by key.
pub type Catalog = HashMap<String, MetricRecord>;

/// How long a catalog is served before it is read again anyway: the bound
/// on the harm of a change nobody announced.
const MAX_AGE: Duration = Duration::from_secs(30);

/// The cache; clones share it.
#[derive(Clone)]
pub struct CatalogCache {
    shared: Arc<Shared>,
}

struct Shared {
    state: RwLock<State>,
    /// Whether the change listener is listening; the cache is bypassed
    /// while it is not.
    listening: AtomicBool,
}

#[derive(Default)]
struct State {
    catalog: Option<(Arc<Catalog>, Instant)>,
    /// Counts forgettings; a load may keep its catalog only if this has not
    /// moved since it started.
    generation: u64,
}

impl Default for CatalogCache {
    fn default() -> Self {
        CatalogCache::new()
    }
}

impl std::fmt::Debug for CatalogCache {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CatalogCache")
            .field("listening", &self.shared.listening.load(Ordering::Acquire))
            .finish_non_exhaustive()
    }
}

impl CatalogCache {
    /// An empty cache, serving once it is told the listener listens.
    pub fn new() -> Self {
        CatalogCache {
            shared: Arc::new(Shared {
                state: RwLock::new(State::default()),
                listening: AtomicBool::new(false),
            }),
        }
    }

    /// A catalog that holds every one of `keys` if the database does: the
    /// cached one when it is fresh and holds them all, else one read through
    /// `conn` (in the caller's snapshot).
    pub async fn covering<'k>(
        &self,
        conn: &mut PgConnection,
        keys: impl IntoIterator<Item = &'k str>,
    ) -> Result<Arc<Catalog>, ApiError> {
        if let Some(catalog) = self.fresh()
            && keys.into_iter().all(|key| catalog.contains_key(key))
        {
            return Ok(catalog);
        }
        let generation = self.generation();
        let catalog = Arc::new(repo::load_all(conn).await?);
        self.store(generation, catalog.clone());
        Ok(catalog)
    }

    fn fresh(&self) -> Option<Arc<Catalog>> {
        if !self.shared.listening.load(Ordering::Acquire) {
            return None;
        }
        let state = self.shared.state.read().ok()?;
        let (catalog, loaded) = state.catalog.as_ref()?;
        (loaded.elapsed() < MAX_AGE).then(|| catalog.clone())
    }

    fn generation(&self) -> u64 {
        self.shared
            .state
            .read()
            .map_or(u64::MAX, |state| state.generation)
    }

    fn store(&self, generation: u64, catalog: Arc<Catalog>) {
        if !self.shared.listening.load(Ordering::Acquire) {
            return;
        }
        if let Ok(mut state) = self.shared.state.write()
            && state.generation == generation
        {
            state.catalog = Some((catalog, Instant::now()));
        }
    }

    /// Forgets the catalog: it is read again by the next call.
    pub fn forget(&self) {
        match self.shared.state.write() {
            Ok(mut state) => {
                state.generation = state.generation.wrapping_add(1);
                state.catalog = None;
            }
            // A panic while the lock was held: serve nothing from now on.
            Err(_) => self.shared.listening.store(false, Ordering::Release),
        }
    }
}

impl Follower for CatalogCache {
    fn heard(&self, change: Option<&Change>) {
        match change {
            Some(Change::Goal(_) | Change::Observations { .. }) => {}
            // A payload this build cannot read may be a catalog change.
            Some(Change::Catalog) | None => self.forget(),
        }
    }

    fn deafened(&self) {
        self.shared.listening.store(false, Ordering::Release);
        self.forget();
    }

    fn listening(&self) {
        // Forget before serving again: whatever was announced while deaf is
        // lost.
        self.forget();
        self.shared.listening.store(true, Ordering::Release);
    }
}
