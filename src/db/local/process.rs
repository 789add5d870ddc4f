//! Running the server process: a free port, the spawn, and the supervisor
//! thread that reaps it.

use std::io::{self};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::mpsc;

use nix::errno::Errno;
use nix::sys::prctl;
use nix::sys::signal::Signal;
use nix::sys::wait::{Id, WaitPidFlag, waitid};
use nix::unistd::{self, Pid};
use tokio::sync::{oneshot, watch};
use tracing::warn;

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
    let (exit_tx, exit_rx) = watch::channel(None);
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
    std::thread::Builder::new()
        .name("postgres-supervisor".to_owned())
        .spawn(move || supervise(command, spawned_tx, exit_tx, rotation_stop))
        .map_err(LocalPostgresError::Supervisor)?;
    let pid = spawned_rx
        .await
        .unwrap_or_else(|_| Err(io::Error::other("supervisor thread ended before spawning")))
        .map_err(|source| LocalPostgresError::Spawn { program, source })?;

    Ok(LocalPostgres {
        port,
        password: prepared.password.clone(),
        data_dir: prepared.data_dir.clone(),
        pid,
        exit: exit_rx,
    })
}

/// Body of the supervisor thread: spawn, report the pid, wait, report the
/// exit. Dropping `rotation_stop` on the way out ends the log rotation thread.
pub(super) fn supervise(
    mut command: Command,
    spawned: oneshot::Sender<io::Result<Pid>>,
    exit: watch::Sender<Option<String>>,
    rotation_stop: mpsc::Sender<()>,
) {
    let _rotation_stop = rotation_stop;
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) => {
            let _ = spawned.send(Err(error));
            return;
        }
    };
    let pid = Pid::from_raw(child.id() as i32);
    let _ = spawned.send(Ok(pid));

    // Wait without reaping, so the pid stays ours (a zombie at worst) until
    // the reap below, which happens under the channel's write lock; see
    // LocalPostgres::signal for why.
    // Any other error (ECHILD if something else reaped it) also means there
    // is nothing left to wait for.
    while let Err(Errno::EINTR) = waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT)
    {
    }
    exit.send_modify(|slot| {
        let status = match child.wait() {
            Ok(status) => status.to_string(),
            Err(error) => format!("exit status unknown: {error}"),
        };
        *slot = Some(status);
    });
}
