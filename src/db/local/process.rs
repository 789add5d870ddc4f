//! Running the server process: a free port, the spawn, and the supervisor
//! thread that reaps it and starts it again after a crash.

use std::io::{self};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::prctl;
use nix::sys::signal::Signal;
use nix::sys::wait::{Id, WaitPidFlag, waitid};
use nix::unistd::{self, Pid};
use tokio::sync::{oneshot, watch};
use tracing::{error, warn};

use super::log::{log_to, rotate_while_running};
use super::previous::OWNER_SETTING;
use super::setup::Prepared;
use super::{LocalPostgres, LocalPostgresError};

/// A port nobody listens on right now. The listener is dropped before
/// PostgreSQL binds, so this can race; `start` retries when it loses.
pub(super) fn free_port() -> Result<u16, LocalPostgresError> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(LocalPostgresError::NoFreePort)
}

/// Spawns the postmaster from a dedicated thread that then supervises it.
///
/// PR_SET_PDEATHSIG fires when the *thread* that forked the child exits,
/// not the process. Tokio workers and blocking-pool threads come and go, so
/// the child is forked from a thread that lives exactly as long as the
/// server: it blocks in waitid until the server exits.
pub(super) async fn spawn_postgres(
    prepared: &Prepared,
    port: u16,
    ephemeral: bool,
) -> Result<LocalPostgres, LocalPostgresError> {
    let program = prepared.bin_dir.join("postgres");
    let parent = unistd::getpid();
    let mut command = Command::new(&program);
    command
        .arg("-D")
        .arg(&prepared.pgdata)
        .arg("-p")
        .arg(port.to_string())
        .args(["-c", "listen_addresses=127.0.0.1"])
        // No Unix socket: nothing needs it, and socket paths are length-limited.
        .args(["-c", "unix_socket_directories="])
        // Lets a later start tell whether a server left on the data dir is
        // ours and whether its goalpost is still alive.
        .arg("-c")
        .arg(format!("{OWNER_SETTING}={parent}"))
        .current_dir(&prepared.data_dir)
        // Its own process group: a Ctrl-C at the terminal goes to goalpost
        // alone, which drains its calls before stopping the database.
        .process_group(0);
    if ephemeral {
        command.args([
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ]);
    }
    if let Some(run_as) = prepared.run_as {
        command.uid(run_as.uid.as_raw()).gid(run_as.gid.as_raw());
    }
    log_to(&mut command, &prepared.log_path)?;
    // SAFETY: the closure runs between fork and exec and only makes two
    // async-signal-safe system calls (prctl, getppid), without allocating.
    // It runs after the uid switch, which matters: changing credentials
    // clears the parent-death signal.
    unsafe {
        command.pre_exec(move || {
            // SIGINT is PostgreSQL's fast shutdown.
            prctl::set_pdeathsig(Signal::SIGINT)?;
            // If we died between fork and prctl, the signal was never going
            // to come: give up rather than run unsupervised.
            if unistd::getppid() != parent {
                return Err(io::Error::from(Errno::ESRCH));
            }
            Ok(())
        });
    }

    let (spawned_tx, spawned_rx) = oneshot::channel();
    let (state_tx, state_rx) = watch::channel(ServerState::Starting);
    let control = Arc::new(Control::default());
    // A plain thread, like the supervisor, because the instance may outlive
    // the runtime that started it (the tests keep one in a static).
    let (rotation_stop, rotation_stopped) = mpsc::channel();
    let log_path = prepared.log_path.clone();
    if let Err(error) = std::thread::Builder::new()
        .name("postgres-log-rotation".to_owned())
        .spawn(move || rotate_while_running(log_path, rotation_stopped))
    {
        // Only the log's size is at stake; rotation at start-up still happens.
        warn!(%error, "cannot start the postgresql log rotation thread");
    }
    let supervisor = Supervisor {
        command,
        state: state_tx,
        control: control.clone(),
        _rotation_stop: rotation_stop,
    };
    std::thread::Builder::new()
        .name("postgres-supervisor".to_owned())
        .spawn(move || supervisor.run(spawned_tx))
        .map_err(LocalPostgresError::Supervisor)?;
    let pid = spawned_rx
        .await
        .unwrap_or_else(|_| Err(io::Error::other("supervisor thread ended before spawning")))
        .map_err(|source| LocalPostgresError::Spawn { program, source })?;

    Ok(LocalPostgres {
        port,
        password: prepared.password.clone(),
        data_dir: prepared.data_dir.clone(),
        first_pid: pid,
        state: state_rx,
        control,
    })
}

/// Where the supervised server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ServerState {
    /// Not spawned yet.
    Starting,
    /// Running as this process (not reaped, so the pid is ours).
    Running(Pid),
    /// Crashed (or killed) and reaped; about to be started again.
    Restarting,
    /// Exited for good, as told, with this status.
    Exited(String),
}

/// What the instance tells its supervisor.
#[derive(Debug, Default)]
pub(super) struct Control {
    /// An exit was asked for: it is not a crash.
    pub stopping: AtomicBool,
    /// The server accepted connections once. Until then an exit ends the
    /// start (which may try another port) rather than being restarted.
    pub ready: AtomicBool,
}

/// The supervisor thread's part: the command that starts the server, the
/// state it publishes, what the instance tells it. Dropping it (when the
/// thread ends) ends the log rotation thread.
struct Supervisor {
    command: Command,
    state: watch::Sender<ServerState>,
    control: Arc<Control>,
    _rotation_stop: mpsc::Sender<()>,
}

/// The first wait before starting a crashed server again, doubled per
/// failed attempt up to [`RESTART_BACKOFF_MAX`]: right after a `kill -9` of
/// the postmaster its backends still hold the shared memory for a moment,
/// and a start refuses until they are gone.
const RESTART_BACKOFF: Duration = Duration::from_millis(100);
const RESTART_BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A server that ran this long counts as started: the backoff starts over.
const STABLE_RUN: Duration = Duration::from_secs(10);

impl Supervisor {
    /// Spawn, report the pid, wait; when the server exits without having
    /// been told to (a crash, an OOM kill, a `kill -9`), start it again (it
    /// recovers from its WAL on start) until told to stop.
    fn run(mut self, spawned: oneshot::Sender<io::Result<Pid>>) {
        let mut spawned = Some(spawned);
        let mut backoff = RESTART_BACKOFF;
        loop {
            let started = Instant::now();
            let mut child = match self.spawn() {
                Ok(child) => child,
                Err(error) => {
                    if let Some(spawned) = spawned.take() {
                        let _ = spawned.send(Err(error));
                        return;
                    }
                    warn!(%error, "cannot start postgresql again, retrying");
                    if !self.pause(&mut backoff) {
                        self.state
                            .send_replace(ServerState::Exited(format!("not restarted: {error}")));
                        return;
                    }
                    continue;
                }
            };
            let pid = Pid::from_raw(child.id() as i32);
            if let Some(spawned) = spawned.take() {
                let _ = spawned.send(Ok(pid));
            }

            // Wait without reaping, so the pid stays ours (a zombie at worst)
            // until the reap below, which happens under the channel's write
            // lock; see LocalPostgres::signal for why. Any other error
            // (ECHILD if something else reaped it) also means there is
            // nothing left to wait for.
            while let Err(Errno::EINTR) =
                waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT)
            {}
            let mut restart = false;
            self.state.send_modify(|state| {
                let status = match child.wait() {
                    Ok(status) => status.to_string(),
                    Err(error) => format!("exit status unknown: {error}"),
                };
                // Decided under the lock that `stop` reads the state under,
                // after setting `stopping`: an exit it asked for is never
                // mistaken for a crash.
                if self.control.stopping.load(Ordering::SeqCst)
                    || !self.control.ready.load(Ordering::SeqCst)
                {
                    *state = ServerState::Exited(status);
                } else {
                    error!(pid = pid.as_raw(), %status, "postgresql exited unexpectedly; starting it again");
                    *state = ServerState::Restarting;
                    restart = true;
                }
            });
            if !restart {
                return;
            }
            if started.elapsed() >= STABLE_RUN {
                backoff = RESTART_BACKOFF;
            }
            if !self.pause(&mut backoff) {
                self.state
                    .send_replace(ServerState::Exited("stopped while restarting".to_owned()));
                return;
            }
        }
    }

    /// Spawns the server, publishing its pid under the state's lock.
    fn spawn(&mut self) -> io::Result<std::process::Child> {
        let mut result = None;
        let command = &mut self.command;
        self.state.send_modify(|state| {
            result = Some(command.spawn().inspect(|child| {
                *state = ServerState::Running(Pid::from_raw(child.id() as i32));
            }));
        });
        result.unwrap_or_else(|| Err(io::Error::other("the spawn did not run")))
    }

    /// Sleeps for the backoff and doubles it; false when a stop was asked
    /// for meanwhile.
    fn pause(&self, backoff: &mut Duration) -> bool {
        let until = Instant::now() + *backoff;
        while Instant::now() < until {
            if self.control.stopping.load(Ordering::SeqCst) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        *backoff = (*backoff * 2).min(RESTART_BACKOFF_MAX);
        !self.control.stopping.load(Ordering::SeqCst)
    }
}
