//! The background task that records daily snapshots: at start-up, after
//! every UTC midnight, and shortly after a goal changes (an activation
//! catches up on the midnights since the goal's start at once).

use std::time::Duration;

use chrono::{NaiveTime, TimeDelta, Utc};
use sqlx::PgPool;
use tokio::task::JoinHandle;

use crate::changes::Change;
use crate::changes::hub::Hub;

/// How long the recorder lets goal changes gather before a round: an
/// activation usually comes with a burst of edits.
const SETTLE: Duration = Duration::from_secs(1);

/// How long after a failed round the recorder tries again.
const RETRY: Duration = Duration::from_secs(60);

/// Starts recording; the task ends when the hub stops.
pub fn start(pool: PgPool, hub: Hub) -> JoinHandle<()> {
    tokio::spawn(async move {
        let subscription = hub.subscribe();
        loop {
            let wake = match super::record_due(&pool, Utc::now()).await {
                Ok(_) => until_next_midnight(),
                Err(error) => {
                    tracing::warn!(%error, "cannot record progress snapshots; trying again later");
                    RETRY
                }
            };
            loop {
                tokio::select! {
                    () = tokio::time::sleep(wake) => break,
                    () = hub.stopped() => return,
                    () = subscription.arrived() => {
                        let mail = subscription.take();
                        let goal_changed = mail.anything
                            || mail.reconnected
                            || mail.changes.iter().any(|change| matches!(change, Change::Goal(_)));
                        if goal_changed {
                            tokio::select! {
                                () = tokio::time::sleep(SETTLE) => break,
                                () = hub.stopped() => return,
                            }
                        }
                    }
                }
            }
        }
    })
}

/// The time to the next UTC midnight, plus a second so that the midnight
/// has passed on every clock that matters.
fn until_next_midnight() -> Duration {
    let now = Utc::now();
    let midnight = (now.date_naive() + TimeDelta::days(1))
        .and_time(NaiveTime::MIN)
        .and_utc();
    (midnight - now).to_std().unwrap_or_default() + Duration::from_secs(1)
}
