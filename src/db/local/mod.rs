//! A private PostgreSQL cluster run from the server binaries on the machine.
//!
//! This is what lets `goalpost serve` work without `DATABASE_URL` and lets
//! `cargo test` run against real PostgreSQL without a database server being
//! set up first. Everything of an instance lives under one data directory:
//!
//! ```text
//! data_dir/
//!   pgdata/        the cluster (initdb'd on first use, reused afterwards)
//!   password       password of the `goalpost` superuser (0600)
//!   postgres.log   output of initdb and of the server, appended
//!   postgres.log.1 … postgres.log.3   rotated logs, newest first
//! ```
//!
//! The server is the `postgres` binary spawned directly (not through
//! `pg_ctl`) so that we own the process: we know its pid, learn at once when
//! it exits, and can arrange for it to shut down when we die. Once it has
//! accepted connections, an exit we did not ask for (a crash, an OOM kill, a
//! `kill -9`) is answered by starting it again on the same port, where it
//! recovers from its WAL; the service's pool finds it there by itself.
//!
//! The log is rotated when it exceeds 10 MiB, checked at start-up and every
//! minute while the server runs: its content moves to `postgres.log.1`, older
//! rotated logs shift up by one and only three are kept (see `log.rs`).
//!
//! A server left running by a goalpost that died (it shuts down by itself,
//! but not at once) is asked to stop and waited for before a new one starts
//! on the same data dir; one whose goalpost still runs is refused with
//! [`LocalPostgresError::InUse`] (see `previous.rs`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::watch;
use tokio::time::{Instant, sleep, timeout};
use tracing::{info, warn};

mod error;
mod log;
mod previous;
mod process;
mod setup;

pub use error::LocalPostgresError;
use log::{log_len, read_log_from, tail_lines};
use process::{Control, ServerState, free_port, spawn_postgres};
use setup::prepare;

/// Name of the superuser initdb creates; also the user in every URL we hand out.
const SUPERUSER: &str = "goalpost";
/// Database the service uses, created on start if missing.
const SERVICE_DATABASE: &str = "goalpost";
/// How long the server gets to accept connections before start-up gives up.
/// Generous because crash recovery after an unclean stop can take a while.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const READY_POLL: Duration = Duration::from_millis(100);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Fast shutdown normally takes well under a second; this leaves room for a
/// final checkpoint on a slow disk before resorting to SIGQUIT.
const FAST_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
const IMMEDIATE_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// Picking a free port and PostgreSQL binding it are not atomic; another
/// process may grab the port in between, so a start is retried a few times.
const START_ATTEMPTS: u32 = 3;
const LOG_TAIL_LINES: usize = 20;

/// Options for a private cluster.
#[derive(Debug, Clone)]
pub struct LocalPostgresOptions {
    /// Directory holding everything of the instance; created if missing, reused across restarts.
    pub data_dir: PathBuf,
    /// Trade durability for speed (fsync, synchronous_commit, full_page_writes off): for test clusters only.
    pub ephemeral: bool,
}

/// Connect options for the service's database on the private instance a
/// running `goalpost serve` owns under `data_dir`: the port from the
/// cluster's lock file and the password stored beside it. `None` when no
/// lock file names a port; the server may still be gone (a lock file left
/// by a crash), which connecting tells.
pub fn running_service_options(
    data_dir: &Path,
) -> Result<Option<PgConnectOptions>, LocalPostgresError> {
    let pgdata = data_dir.join("pgdata");
    let Some(port) = previous::lock_port(&pgdata) else {
        return Ok(None);
    };
    let path = data_dir.join("password");
    let password =
        setup::read_password(&path)?.ok_or(LocalPostgresError::MissingPassword { pgdata, path })?;
    Ok(Some(loopback_options(port, &password, SERVICE_DATABASE)))
}

/// Options for `database` on a private instance as its superuser. TLS is
/// off: the server listens on loopback only and has no certificate.
fn loopback_options(port: u16, password: &str, database: &str) -> PgConnectOptions {
    PgConnectOptions::new()
        .host("127.0.0.1")
        .port(port)
        .username(SUPERUSER)
        .password(password)
        .database(database)
        .ssl_mode(PgSslMode::Disable)
}

/// A running private PostgreSQL server.
///
/// Dropping it without [`LocalPostgres::stop`] still asks the server to shut
/// down (without waiting), and the server also shuts down by itself if this
/// process dies, so no server is left behind either way.
pub struct LocalPostgres {
    port: u16,
    password: String,
    data_dir: PathBuf,
    /// The pid the server started with (a restart after a crash changes it).
    first_pid: Pid,
    /// Where the server is, as the supervisor publishes it. Holding a borrow
    /// of it keeps the supervisor from reaping or spawning, which is what
    /// makes signalling the pid it names safe (see [`LocalPostgres::signal`]).
    state: watch::Receiver<ServerState>,
    control: Arc<Control>,
}

impl LocalPostgres {
    /// Initialises the cluster on first use, then starts it on a free loopback port and waits until it accepts connections.
    ///
    /// Also creates the `goalpost` database if it does not exist yet.
    pub async fn start(options: LocalPostgresOptions) -> Result<LocalPostgres, LocalPostgresError> {
        Self::start_with_port(options, None).await
    }

    /// [`LocalPostgres::start`] on loopback port `port` rather than a free
    /// one: to start an instance again where its clients look for it.
    pub async fn start_on_port(
        options: LocalPostgresOptions,
        port: u16,
    ) -> Result<LocalPostgres, LocalPostgresError> {
        Self::start_with_port(options, Some(port)).await
    }

    async fn start_with_port(
        options: LocalPostgresOptions,
        fixed_port: Option<u16>,
    ) -> Result<LocalPostgres, LocalPostgresError> {
        // Finding binaries, preparing directories and initdb are all blocking
        // work (initdb takes seconds), so keep them off the async workers.
        let ephemeral = options.ephemeral;
        let prepared = tokio::task::spawn_blocking(move || prepare(&options))
            .await
            .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))?;
        previous::wait_for_previous(&prepared).await?;

        let mut attempt = 1;
        loop {
            let port = match fixed_port {
                Some(port) => port,
                None => free_port()?,
            };
            let log_offset = log_len(&prepared.log_path);
            let mut instance = spawn_postgres(&prepared, port, ephemeral).await?;
            match instance.wait_ready().await {
                Ok(mut connection) => {
                    let created = create_service_database(&mut connection).await;
                    let _ = connection.close().await;
                    if let Err(error) = created {
                        let _ = instance.stop().await;
                        return Err(LocalPostgresError::CreateDatabase(error));
                    }
                    // From now on a crash is answered with a restart.
                    instance.control.ready.store(true, Ordering::SeqCst);
                    info!(
                        port,
                        pid = instance.first_pid.as_raw(),
                        data_dir = %prepared.data_dir.display(),
                        "private postgresql started"
                    );
                    return Ok(instance);
                }
                Err(NotReady::Exited(status)) => {
                    let log = read_log_from(&prepared.log_path, log_offset);
                    if log.contains("lock file \"postmaster.pid\" already exists") {
                        return Err(LocalPostgresError::AlreadyRunning {
                            data_dir: prepared.data_dir.clone(),
                        });
                    }
                    let port_taken = log.contains("could not create any TCP/IP sockets")
                        || log.contains("Address already in use");
                    if port_taken && fixed_port.is_none() && attempt < START_ATTEMPTS {
                        warn!(
                            port,
                            attempt, "port was taken before postgresql could bind it, retrying"
                        );
                        attempt += 1;
                        continue;
                    }
                    return Err(LocalPostgresError::ExitedDuringStartup {
                        status,
                        log: prepared.log_path.clone(),
                        tail: tail_lines(&log),
                    });
                }
                Err(NotReady::PasswordRejected) => {
                    let _ = instance.stop().await;
                    return Err(LocalPostgresError::PasswordRejected {
                        path: prepared.data_dir.join("password"),
                    });
                }
                Err(NotReady::TimedOut { last_error }) => {
                    let _ = instance.stop().await;
                    let log = read_log_from(&prepared.log_path, log_offset);
                    return Err(LocalPostgresError::StartTimeout {
                        secs: READY_TIMEOUT.as_secs(),
                        last_error,
                        log: prepared.log_path.clone(),
                        tail: tail_lines(&log),
                    });
                }
            }
        }
    }

    /// Connection URL for `database` on this instance (user and password included).
    ///
    /// TLS is disabled in the URL: the server only listens on loopback and
    /// has no certificate, so negotiating would only cost a round trip.
    pub fn database_url(&self, database: &str) -> String {
        let mut url = url::Url::parse(&format!(
            "postgres://127.0.0.1:{}/?sslmode=disable",
            self.port
        ))
        .expect("a loopback URL with a port parses");
        // A URL with a host always takes credentials and path segments, and
        // the url crate percent-encodes whatever the password and name hold.
        let _ = url.set_username(SUPERUSER);
        let _ = url.set_password(Some(&self.password));
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.clear().push(database);
        }
        url.into()
    }

    /// The loopback port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Connect options for the service's database on this instance.
    pub fn service_options(&self) -> PgConnectOptions {
        loopback_options(self.port, &self.password, SERVICE_DATABASE)
    }

    /// Fast shutdown (SIGINT), waiting for the server to exit; escalate to SIGQUIT after a timeout.
    ///
    /// Fast shutdown ends sessions and writes a checkpoint, so the next start
    /// needs no recovery; SIGQUIT (immediate shutdown) is only the fallback.
    pub async fn stop(mut self) -> Result<(), LocalPostgresError> {
        self.control.stopping.store(true, Ordering::SeqCst);
        self.signal(Signal::SIGINT);
        if let Some(status) = self.wait_exit(FAST_SHUTDOWN_TIMEOUT).await {
            info!(data_dir = %self.data_dir.display(), %status, "private postgresql stopped");
            return Ok(());
        }
        warn!(
            pid = self.running_pid().unwrap_or(self.first_pid).as_raw(),
            timeout_secs = FAST_SHUTDOWN_TIMEOUT.as_secs(),
            "postgresql did not stop after sigint, sending sigquit"
        );
        self.signal(Signal::SIGQUIT);
        if let Some(status) = self.wait_exit(IMMEDIATE_SHUTDOWN_TIMEOUT).await {
            info!(data_dir = %self.data_dir.display(), %status, "private postgresql stopped");
            return Ok(());
        }
        Err(LocalPostgresError::StopTimeout {
            pid: self.running_pid().unwrap_or(self.first_pid).as_raw(),
        })
    }

    /// Sends `signal` to the postmaster unless it has already been reaped.
    ///
    /// The supervisor reaps and spawns the server inside the watch channel's
    /// write lock, and the borrow below holds its read lock, so while we
    /// look at `Running(pid)` the pid cannot have been recycled for an
    /// unrelated process.
    fn signal(&self, signal: Signal) {
        let state = self.state.borrow();
        if let ServerState::Running(pid) = *state
            && let Err(error) = signal::kill(pid, signal)
        {
            warn!(pid = pid.as_raw(), %signal, %error, "cannot signal postgresql");
        }
    }

    /// The postmaster's pid while it runs: it changes when the supervisor
    /// starts it again after a crash.
    pub fn running_pid(&self) -> Option<Pid> {
        match *self.state.borrow() {
            ServerState::Running(pid) => Some(pid),
            _ => None,
        }
    }

    /// Waits up to `limit` for the server to exit for good; returns how it
    /// exited.
    async fn wait_exit(&mut self, limit: Duration) -> Option<String> {
        let exited = |state: &ServerState| matches!(state, ServerState::Exited(_));
        match timeout(limit, self.state.wait_for(exited)).await {
            Ok(Ok(state)) => match &*state {
                ServerState::Exited(status) => Some(status.clone()),
                _ => Some("unknown status".to_owned()),
            },
            // The supervisor only drops its sender after reporting the exit,
            // or if it panicked; either way there is nothing left to wait for.
            Ok(Err(_)) => Some("unknown status".to_owned()),
            Err(_) => None,
        }
    }

    /// Polls until the server accepts a connection to the `postgres` database.
    async fn wait_ready(&mut self) -> Result<PgConnection, NotReady> {
        let options = loopback_options(self.port, &self.password, "postgres");
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let ServerState::Exited(status) = &*self.state.borrow() {
                return Err(NotReady::Exited(status.clone()));
            }
            let last_error = match timeout(CONNECT_TIMEOUT, options.connect()).await {
                Ok(Ok(connection)) => return Ok(connection),
                // invalid_password: retrying cannot help.
                Ok(Err(sqlx::Error::Database(error)))
                    if error.code().as_deref() == Some("28P01") =>
                {
                    return Err(NotReady::PasswordRejected);
                }
                Ok(Err(error)) => error.to_string(),
                Err(_) => "connection attempt timed out".to_owned(),
            };
            if Instant::now() >= deadline {
                return Err(NotReady::TimedOut { last_error });
            }
            sleep(READY_POLL).await;
        }
    }
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        // A no-op after stop(): the exit has been reported by then.
        self.control.stopping.store(true, Ordering::SeqCst);
        self.signal(Signal::SIGINT);
    }
}

impl fmt::Debug for LocalPostgres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Hand-written so the password never ends up in logs.
        f.debug_struct("LocalPostgres")
            .field("port", &self.port)
            .field("data_dir", &self.data_dir)
            .field("pid", &self.running_pid())
            .finish_non_exhaustive()
    }
}

/// Why waiting for readiness ended without a connection.
enum NotReady {
    Exited(String),
    PasswordRejected,
    TimedOut { last_error: String },
}

async fn create_service_database(connection: &mut PgConnection) -> Result<(), sqlx::Error> {
    // Checked first rather than relying on the duplicate_database error, so
    // that a normal restart does not leave an ERROR line in the server log.
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(SERVICE_DATABASE)
            .fetch_one(&mut *connection)
            .await?;
    if !exists {
        info!(database = SERVICE_DATABASE, "creating database");
        sqlx::query("create database goalpost")
            .execute(&mut *connection)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_can_live_in_a_static() {
        // Test harnesses keep one instance for the whole test binary.
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<LocalPostgres>();
    }
}
