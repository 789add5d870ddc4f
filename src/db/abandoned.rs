//! Stopping the statements of a call its client gave up on, at once.
//!
//! When a client cancels a call (or its connection goes), tonic drops the
//! call's future. sqlx then returns the call's connections to the pool, but
//! a statement still running on one runs on: the pool waits for it to end
//! before lending the connection again, and sqlx has no way to cancel it. So
//! every connection a call takes is recorded against the call, by its
//! server process id (read in the same round trip that sets the call's
//! `statement_timeout`), and a call dropped before it finished asks
//! PostgreSQL to cancel whatever those processes are running
//! (`pg_cancel_backend`, on a connection of its own).
//!
//! A cancel must never reach the next call lent the same connection. So a
//! connection is recorded against the call that takes it before that call
//! can use it, a cancel goes out only while the connection is still
//! recorded against the abandoned call, and a call taking a connection
//! whose cancel is on its way waits until it has been delivered. A cancel
//! that finds the process idle is ignored by PostgreSQL.
//!
//! Work a call hands to a task of its own ([`crate::api::detached`]) is not
//! part of the call here: it is meant to finish whatever the client does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::sync::watch;

use crate::telemetry::exporter;

/// How long a cancel may take before it is given up (the statement then
/// ends at its `statement_timeout`, as without this module).
const CANCEL_TIMEOUT: Duration = Duration::from_secs(2);

/// Records kept before the ones of idle connections are dropped; a
/// connection without a record is simply never cancelled.
const MAX_RECORDS: usize = 1_024;

tokio::task_local! {
    /// The connections the call the current task serves has taken.
    static CALL: Arc<CallConnections>;
}

/// Call ids; 0 is "no call".
static NEXT_CALL: AtomicU64 = AtomicU64::new(1);

/// The connections one call took, with the pool records they are in.
struct CallConnections {
    id: u64,
    taken: Mutex<Vec<(Arc<Holders>, i32)>>,
}

/// Runs a call's future; if it is dropped before it completes, the
/// statements running on the connections it took are cancelled.
pub async fn abandonable<T>(call: impl Future<Output = T>) -> T {
    let connections = Arc::new(CallConnections {
        id: NEXT_CALL.fetch_add(1, Ordering::Relaxed),
        taken: Mutex::new(Vec::new()),
    });
    let mut guard = Abandoned {
        connections: connections.clone(),
        finished: false,
    };
    let output = CALL.scope(connections, call).await;
    guard.finished = true;
    output
}

/// Cancels the call's statements when dropped unfinished.
struct Abandoned {
    connections: Arc<CallConnections>,
    finished: bool,
}

impl Drop for Abandoned {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let taken = match self.connections.taken.lock() {
            Ok(mut taken) => std::mem::take(&mut *taken),
            Err(_) => return,
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        for (holders, pid) in taken {
            runtime.spawn(holders.cancel(pid, self.connections.id));
        }
    }
}

/// Which call holds each connection of one pool, by server process id.
pub struct Holders {
    /// Sends the cancels: never a slot of the pool whose calls it stops.
    canceller: PgPool,
    records: Mutex<HashMap<i32, Record>>,
}

struct Record {
    /// The call that took the connection last; 0 for none.
    call: u64,
    /// Set while a cancel is on its way; completes when it was delivered.
    cancelling: Option<watch::Receiver<bool>>,
}

impl Holders {
    /// Records for a pool connecting with `options`.
    pub fn new(options: PgConnectOptions) -> Arc<Self> {
        Arc::new(Holders {
            canceller: PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(CANCEL_TIMEOUT)
                .connect_lazy_with(options),
            records: Mutex::new(HashMap::new()),
        })
    }

    /// Records that the call the current task serves (if any) took the
    /// connection of server process `pid`, waiting first for a cancel on its
    /// way to that process. Call before the connection serves the call.
    pub async fn taken(self: &Arc<Self>, pid: i32) {
        let call = CALL.try_with(Arc::clone).ok();
        let id = call.as_ref().map_or(0, |call| call.id);
        loop {
            let mut pending = {
                let Ok(mut records) = self.records.lock() else {
                    return;
                };
                match records
                    .get(&pid)
                    .and_then(|record| record.cancelling.clone())
                {
                    Some(pending) => pending,
                    None => {
                        if records.len() >= MAX_RECORDS {
                            records.retain(|_, record| record.cancelling.is_some());
                        }
                        records.insert(
                            pid,
                            Record {
                                call: id,
                                cancelling: None,
                            },
                        );
                        break;
                    }
                }
            };
            if pending.wait_for(|delivered| *delivered).await.is_err() {
                // The cancel's task ended without saying (the runtime is
                // stopping): nothing more will be sent, so stop waiting on it.
                if let Ok(mut records) = self.records.lock()
                    && let Some(record) = records.get_mut(&pid)
                    && record
                        .cancelling
                        .as_ref()
                        .is_some_and(|cancelling| cancelling.same_channel(&pending))
                {
                    record.cancelling = None;
                }
            }
        }
        if let Some(call) = call
            && let Ok(mut taken) = call.taken.lock()
            && !taken.iter().any(|(_, taken)| *taken == pid)
        {
            taken.push((self.clone(), pid));
        }
    }

    /// Cancels what process `pid` runs, if call `call` still holds it.
    async fn cancel(self: Arc<Self>, pid: i32, call: u64) {
        let (delivered, pending) = watch::channel(false);
        {
            let Ok(mut records) = self.records.lock() else {
                return;
            };
            match records.get_mut(&pid) {
                Some(record) if record.call == call && record.cancelling.is_none() => {
                    record.cancelling = Some(pending);
                }
                _ => return,
            }
        }
        let sent = tokio::time::timeout(
            CANCEL_TIMEOUT,
            // Through pg_stat_activity: a process that has gone since (its
            // connection closed) is skipped instead of drawing a warning.
            sqlx::query("select pg_cancel_backend(pid) from pg_stat_activity where pid = $1")
                .bind(pid)
                .execute(&self.canceller),
        )
        .await;
        match sent {
            Ok(Ok(_)) => {
                exporter::abandoned_statement_cancelled();
                tracing::debug!(pid, "cancelled the statement of an abandoned call");
            }
            Ok(Err(error)) => {
                tracing::debug!(pid, %error, "could not cancel an abandoned call's statement")
            }
            Err(_) => tracing::debug!(
                pid,
                "cancelling an abandoned call's statement took too long"
            ),
        }
        if let Ok(mut records) = self.records.lock()
            && let Some(record) = records.get_mut(&pid)
        {
            record.call = 0;
            record.cancelling = None;
        }
        delivered.send_replace(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connections_are_recorded_against_the_call_that_takes_them() {
        let options = PgConnectOptions::new().host("127.0.0.1").port(1);
        let holders = Holders::new(options);
        holders.taken(7).await;
        let outside = holders.records.lock().unwrap()[&7].call;
        assert_eq!(outside, 0, "work outside a call belongs to no call");

        let inside = abandonable(async {
            holders.taken(7).await;
            holders.taken(7).await;
            let call = CALL.with(Arc::clone);
            (call.id, call.taken.lock().unwrap().len())
        })
        .await;
        assert_eq!(holders.records.lock().unwrap()[&7].call, inside.0);
        assert_eq!(inside.1, 1, "a connection is listed once per call");
    }

    #[tokio::test]
    async fn a_cancel_whose_task_vanished_does_not_hold_the_connection_up() {
        let options = PgConnectOptions::new().host("127.0.0.1").port(1);
        let holders = Holders::new(options);
        let (vanished, pending) = watch::channel(false);
        drop(vanished);
        holders.records.lock().unwrap().insert(
            3,
            Record {
                call: 1,
                cancelling: Some(pending),
            },
        );
        tokio::time::timeout(Duration::from_secs(1), holders.taken(3))
            .await
            .expect("taken at once");
        assert!(holders.records.lock().unwrap()[&3].cancelling.is_none());
    }

    #[tokio::test]
    async fn a_cancel_reaches_only_the_call_that_still_holds_the_connection() {
        // A server nobody listens on: the cancel itself fails, which is
        // what happens during an outage, and must still clear the record.
        let options = PgConnectOptions::new().host("127.0.0.1").port(1);
        let holders = Holders::new(options);
        holders.records.lock().unwrap().insert(
            9,
            Record {
                call: 5,
                cancelling: None,
            },
        );
        holders.clone().cancel(9, 4).await;
        assert_eq!(
            holders.records.lock().unwrap()[&9].call,
            5,
            "another call's connection is left alone"
        );
        holders.clone().cancel(9, 5).await;
        let records = holders.records.lock().unwrap();
        assert_eq!(records[&9].call, 0);
        assert!(records[&9].cancelling.is_none());
    }
}
