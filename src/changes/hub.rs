//! The hub: one LISTEN connection per process, and an inbox per watcher.
//!
//! The hub never waits for a watcher. Each change is appended to every
//! inbox under a short lock; an inbox that fills up is marked as having
//! overflowed and emptied, which its owner reads as "anything may have
//! changed". So a watcher that stops reading costs a bounded amount of
//! memory and never slows the listener, let alone a writer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::{CHANNEL, Change, Follower};

/// Changes an inbox holds before it overflows into "anything may have
/// changed".
const INBOX_CAPACITY: usize = 1_024;

/// The longest pause between attempts to listen again after the database
/// went away.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(5);

/// Fans the changes heard on [`CHANNEL`] out to this process's watchers.
#[derive(Clone)]
pub struct Hub {
    shared: Arc<Shared>,
}

struct Shared {
    /// Told of every change first, synchronously.
    followers: Vec<Arc<dyn Follower>>,
    inboxes: Mutex<HashMap<u64, Arc<Inbox>>>,
    next_id: AtomicU64,
    /// True once the server is stopping.
    stopping: watch::Sender<bool>,
}

/// What a watcher has been sent since it last looked.
#[derive(Default)]
struct Inbox {
    mail: Mutex<Mail>,
    arrived: Notify,
}

/// The changes waiting in an inbox.
#[derive(Debug, Default)]
pub struct Mail {
    /// The changes, oldest first.
    pub changes: Vec<Change>,
    /// Something may have changed that is not in `changes`: the inbox
    /// overflowed or a notification could not be read.
    pub anything: bool,
    /// The listening connection was lost and re-established: notifications
    /// sent meanwhile are gone, so every watcher sends its fresh state.
    pub reconnected: bool,
}

/// A watcher's registration; dropping it unregisters.
pub struct Subscription {
    id: u64,
    inbox: Arc<Inbox>,
    hub: Weak<Shared>,
}

impl Subscription {
    /// Waits until mail arrives (at once if some is waiting).
    pub async fn arrived(&self) {
        self.inbox.arrived.notified().await;
    }

    /// Takes the waiting mail.
    pub fn take(&self) -> Mail {
        match self.inbox.mail.lock() {
            Ok(mut mail) => std::mem::take(&mut *mail),
            // A panic while holding the lock: assume the worst.
            Err(_) => Mail {
                anything: true,
                ..Mail::default()
            },
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(shared) = self.hub.upgrade()
            && let Ok(mut inboxes) = shared.inboxes.lock()
        {
            inboxes.remove(&self.id);
        }
    }
}

impl Hub {
    /// Starts listening on a connection of `pool` (give it a pool of its own:
    /// the listener holds its connection for good). Returns once LISTEN has
    /// been issued, so no write committed after this returns is missed.
    /// `followers` hear each change before any watcher.
    pub async fn start(
        pool: PgPool,
        followers: Vec<Arc<dyn Follower>>,
    ) -> Result<(Hub, JoinHandle<()>), sqlx::Error> {
        let listener = listen_on(&pool).await?;
        let (stopping, _) = watch::channel(false);
        let hub = Hub {
            shared: Arc::new(Shared {
                followers,
                inboxes: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(0),
                stopping,
            }),
        };
        hub.followers(|follower| follower.listening());
        let task = tokio::spawn(hub.clone().listen(pool, listener));
        Ok((hub, task))
    }

    /// Registers a watcher. Register before reading the state watched, so a
    /// change committed between the read and the registration is not missed.
    pub fn subscribe(&self) -> Subscription {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let inbox = Arc::new(Inbox::default());
        if let Ok(mut inboxes) = self.shared.inboxes.lock() {
            inboxes.insert(id, inbox.clone());
        }
        Subscription {
            id,
            inbox,
            hub: Arc::downgrade(&self.shared),
        }
    }

    /// How many watchers are registered.
    pub fn subscribers(&self) -> usize {
        self.shared
            .inboxes
            .lock()
            .map_or(0, |inboxes| inboxes.len())
    }

    /// Tells the listener and every watcher that the server is stopping.
    pub fn stop(&self) {
        self.shared.stopping.send_replace(true);
    }

    /// Completes once [`Hub::stop`] has been called.
    pub async fn stopped(&self) {
        let mut stopping = self.shared.stopping.subscribe();
        // An error means the hub is gone, which is stopping too.
        let _ = stopping.wait_for(|stopping| *stopping).await;
    }

    fn followers(&self, tell: impl Fn(&dyn Follower)) {
        for follower in &self.shared.followers {
            tell(follower.as_ref());
        }
    }

    /// Tells the followers, then puts `change` into every inbox.
    fn deliver(&self, change: Option<Change>, reconnected: bool) {
        if !reconnected {
            self.followers(|follower| follower.heard(change.as_ref()));
        }
        let inboxes: Vec<Arc<Inbox>> = match self.shared.inboxes.lock() {
            Ok(inboxes) => inboxes.values().cloned().collect(),
            Err(_) => return,
        };
        for inbox in inboxes {
            if let Ok(mut mail) = inbox.mail.lock() {
                mail.reconnected |= reconnected;
                match &change {
                    _ if mail.anything => {}
                    Some(change) if mail.changes.len() < INBOX_CAPACITY => {
                        mail.changes.push(change.clone())
                    }
                    _ => {
                        mail.anything = true;
                        mail.changes = Vec::new();
                    }
                }
            }
            inbox.arrived.notify_one();
        }
    }

    /// The listening loop. When the connection is lost or fails, the
    /// followers are told at once that changes may go unheard, and the
    /// listener is replaced; whatever was announced meanwhile is lost, so
    /// once listening again the followers are told and every watcher sends
    /// its fresh state. (sqlx would reconnect a closed listener by itself on
    /// the next receive, but without saying when it listens again.)
    async fn listen(self, pool: PgPool, mut listener: PgListener) {
        loop {
            let received = tokio::select! {
                received = listener.try_recv() => received,
                () = self.stopped() => break,
            };
            match received {
                Ok(Some(notification)) => {
                    self.deliver(Change::parse(notification.payload()), false);
                    continue;
                }
                Ok(None) => {
                    tracing::warn!("the change listener's connection was lost; listening again");
                }
                Err(sqlx::Error::PoolClosed) => break,
                Err(error) => {
                    tracing::warn!(%error, "the change listener failed; listening again");
                }
            }
            self.followers(|follower| follower.deafened());
            // The pool has one connection, which the old listener holds.
            drop(listener);
            let Some(again) = self.listen_again(&pool).await else {
                break;
            };
            listener = again;
            self.followers(|follower| follower.listening());
            self.deliver(None, true);
        }
        self.followers(|follower| follower.deafened());
    }

    /// A new listener, retried with growing pauses until the database
    /// answers; `None` when the server stops first.
    async fn listen_again(&self, pool: &PgPool) -> Option<PgListener> {
        let mut pause = Duration::from_millis(50);
        loop {
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = self.stopped() => return None,
            }
            match listen_on(pool).await {
                Ok(listener) => return Some(listener),
                Err(sqlx::Error::PoolClosed) => return None,
                Err(error) => tracing::debug!(%error, "cannot listen yet"),
            }
            pause = (pause * 2).min(MAX_RETRY_PAUSE);
        }
    }
}

async fn listen_on(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
