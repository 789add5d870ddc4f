//! Whether the database answers, known ahead of the calls that need it.
//!
//! Without this, every call during an outage would find out on its own,
//! each waiting out the pool's acquire timeout before answering
//! UNAVAILABLE, and health would keep saying SERVING. A monitor task holds
//! one connection of its own (outside the pool, so a busy pool never makes
//! the database look down) and pings it every second, and at
//! once when a call reports trouble ([`Availability::suspect`]). While the
//! probe fails it retries five times a second, so the way back is noticed
//! as quickly as the way down; the pool and the change listener reconnect
//! by themselves.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// How often the database is probed while it answers.
const PROBE_INTERVAL_UP: Duration = Duration::from_secs(1);
/// How often it is probed while it does not.
const PROBE_INTERVAL_DOWN: Duration = Duration::from_millis(200);
/// How long a probe (connecting, then `select 1`) may take before the
/// database counts as down: generous, so that a loaded but working server is
/// never mistaken for a dead one.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The database's availability as the monitor last saw it; cheap to clone
/// and to ask.
#[derive(Clone)]
pub struct Availability {
    inner: Arc<Inner>,
}

struct Inner {
    /// `true` while the last probe succeeded.
    up: watch::Sender<bool>,
    /// Wakes the monitor for a probe now.
    suspect: Notify,
    /// Ends the monitor.
    stop: watch::Sender<bool>,
}

impl Availability {
    /// Starts monitoring the database at `options`, assumed up (the server
    /// has just connected and migrated it).
    pub fn start(options: PgConnectOptions) -> (Availability, JoinHandle<()>) {
        let availability = Availability {
            inner: Arc::new(Inner {
                up: watch::channel(true).0,
                suspect: Notify::new(),
                stop: watch::channel(false).0,
            }),
        };
        let task = tokio::spawn(monitor(availability.clone(), options));
        (availability, task)
    }

    /// Whether the database answered the last probe.
    pub fn is_up(&self) -> bool {
        *self.inner.up.borrow()
    }

    /// Follows the availability: `true` while up.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.inner.up.subscribe()
    }

    /// A call saw the database fail: probe now rather than at the next tick.
    pub fn suspect(&self) {
        self.inner.suspect.notify_one();
    }

    /// Ends the monitor; the availability then stays as last seen.
    pub fn stop(&self) {
        self.inner.stop.send_replace(true);
    }
}

async fn monitor(availability: Availability, options: PgConnectOptions) {
    let inner = &availability.inner;
    let mut stopped = inner.stop.subscribe();
    let mut connection: Option<PgConnection> = None;
    loop {
        let answered = probe(&mut connection, &options).await;
        let was_up = inner.up.send_replace(answered.is_ok());
        match (&answered, was_up) {
            (Err(error), true) => {
                tracing::error!(%error, "the database does not answer: calls get UNAVAILABLE until it does");
            }
            (Ok(()), false) => tracing::info!("the database answers again"),
            _ => {}
        }
        let interval = if answered.is_ok() {
            PROBE_INTERVAL_UP
        } else {
            PROBE_INTERVAL_DOWN
        };
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = inner.suspect.notified() => {}
            _ = stopped.wait_for(|stop| *stop) => break,
        }
    }
    if let Some(connection) = connection {
        let _ = connection.close().await;
    }
}

/// One probe: a ping on the monitor's connection, opened first when
/// there is none. A failed probe drops the connection, so the next opens a
/// new one.
async fn probe(
    connection: &mut Option<PgConnection>,
    options: &PgConnectOptions,
) -> Result<(), String> {
    let attempt = async {
        if connection.is_none() {
            *connection = Some(options.connect().await.map_err(|error| error.to_string())?);
        }
        let Some(open) = connection.as_mut() else {
            return Err("no connection".to_owned());
        };
        open.ping().await.map_err(|error| error.to_string())
    };
    let result = match timeout(PROBE_TIMEOUT, attempt).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "no answer within {} s",
            PROBE_TIMEOUT.as_secs_f64()
        )),
    };
    if result.is_err() {
        *connection = None;
    }
    result
}
