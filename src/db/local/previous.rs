//! A server left on the data dir by an earlier goalpost.
//!
//! When goalpost dies without stopping its server (a crash, `kill -9`), the
//! kernel sends the server SIGINT and it shuts down by itself, but that takes
//! a moment (or never happens, if the signal was lost or the server is
//! stuck), and until it has exited its `postmaster.pid` keeps a new server
//! off the data dir. So before starting, we look at who holds that lock:
//!
//! - nobody, or a pid that is not a postgres working in this data dir: start
//!   (PostgreSQL recognises and replaces a stale lock by itself);
//! - a postgres we started, whose parent is still the goalpost that started
//!   it: [`LocalPostgresError::InUse`];
//! - a postgres we started whose goalpost is gone: ask it to stop (SIGINT,
//!   then SIGQUIT), wait for it to exit, then start;
//! - a postgres on this data dir that goalpost did not start:
//!   [`LocalPostgresError::AlreadyRunning`], it is not ours to stop.
//!
//! "We started" is read from the server's command line, where
//! [`OWNER_SETTING`] names the goalpost process. Signals go through a pidfd
//! opened before the checks, so they reach the process that was checked or
//! nothing, even if the pid were recycled in between.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::time::{Instant, sleep};
use tracing::{info, warn};

use super::setup::Prepared;
use super::{FAST_SHUTDOWN_TIMEOUT, IMMEDIATE_SHUTDOWN_TIMEOUT, LocalPostgresError, READY_POLL};

/// A custom setting on the server's command line naming the goalpost process
/// that started it. PostgreSQL accepts any dotted name as a placeholder
/// setting, so it costs nothing, and it shows in `/proc/<pid>/cmdline`.
pub(super) const OWNER_SETTING: &str = "goalpost.owner_pid";

/// What we learnt about the process named in `postmaster.pid`.
struct Postmaster {
    pid: i32,
    pidfd: OwnedFd,
    /// The goalpost process named by [`OWNER_SETTING`], if the server has it.
    owner: Option<i32>,
    /// The server's current parent: its owner while that lives, a reaper after.
    parent: i32,
}

/// Makes sure no server of an earlier goalpost still holds the data dir:
/// stops one whose goalpost has died and waits for it, refuses one whose
/// goalpost still runs or that is not ours.
pub(super) async fn wait_for_previous(prepared: &Prepared) -> Result<(), LocalPostgresError> {
    let Some(pid) = lock_pid(&prepared.pgdata) else {
        return Ok(());
    };
    let Some(postmaster) = inspect(pid, &prepared.pgdata) else {
        return Ok(());
    };
    match postmaster.owner {
        None => Err(LocalPostgresError::AlreadyRunning {
            data_dir: prepared.data_dir.clone(),
        }),
        Some(owner) if owner == postmaster.parent => Err(LocalPostgresError::InUse {
            data_dir: prepared.data_dir.clone(),
            owner_pid: owner,
        }),
        Some(owner) => stop_orphan(postmaster, owner, &prepared.data_dir).await,
    }
}

/// Line `index` (from 0) of `postmaster.pid`, trimmed, if there is one. The
/// lock file holds the pid, the data directory, the start time and the
/// port on its first four lines.
fn lock_line(pgdata: &Path, index: usize) -> Option<String> {
    let contents = fs::read_to_string(pgdata.join("postmaster.pid")).ok()?;
    Some(contents.lines().nth(index)?.trim().to_owned())
}

/// The postmaster pid from the first line of `postmaster.pid`, if any.
fn lock_pid(pgdata: &Path) -> Option<i32> {
    // A negative pid marks a single-user backend, which is not a server.
    let pid: i32 = lock_line(pgdata, 0)?.parse().ok()?;
    (pid > 0).then_some(pid)
}

/// The port of the server holding `pgdata`, from the fourth line of
/// `postmaster.pid`, if any.
pub(super) fn lock_port(pgdata: &Path) -> Option<u16> {
    lock_line(pgdata, 3)?.parse().ok().filter(|port| *port != 0)
}

/// `Some` only for a live `postgres` whose working directory is `pgdata`:
/// the postmaster changes into its data directory, so that is the one check
/// a recycled pid cannot pass by accident.
fn inspect(pid: i32, pgdata: &Path) -> Option<Postmaster> {
    // Opened first, so that what is checked below is the process it pins.
    let pidfd = pidfd_open(pid).ok()?;
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let stat = fs::read_to_string(proc_dir.join("stat")).ok()?;
    let (state, parent) = parse_stat(&stat)?;
    if state == "Z" {
        return None;
    }
    let cmdline = fs::read(proc_dir.join("cmdline")).ok()?;
    let args: Vec<&OsStr> = cmdline
        .split(|byte| *byte == 0)
        .filter(|arg| !arg.is_empty())
        .map(OsStr::from_bytes)
        .collect();
    if Path::new(args.first()?).file_name()? != "postgres" {
        return None;
    }
    let cwd = fs::read_link(proc_dir.join("cwd")).ok()?;
    if cwd != fs::canonicalize(pgdata).ok()? {
        return None;
    }
    let owner = args.iter().find_map(|arg| {
        let value = arg
            .to_str()?
            .strip_prefix(OWNER_SETTING)?
            .strip_prefix('=')?;
        value.parse().ok()
    });
    Some(Postmaster {
        pid,
        pidfd,
        owner,
        parent,
    })
}

/// The state and parent pid from `/proc/<pid>/stat`. The command name in
/// parentheses may itself hold spaces and parentheses, hence the last `)`.
fn parse_stat(stat: &str) -> Option<(&str, i32)> {
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    let state = fields.next()?;
    let parent = fields.next()?.parse().ok()?;
    Some((state, parent))
}

/// Fast shutdown, then immediate shutdown, each with the time `stop` gives
/// our own server; the kernel may already have sent the SIGINT, and a second
/// one does no harm.
async fn stop_orphan(
    postmaster: Postmaster,
    owner: i32,
    data_dir: &Path,
) -> Result<(), LocalPostgresError> {
    warn!(
        pid = postmaster.pid,
        owner_pid = owner,
        data_dir = %data_dir.display(),
        "the postgresql of a goalpost that is gone still holds the data dir, asking it to stop"
    );
    for (signal, limit) in [
        (Signal::SIGINT, FAST_SHUTDOWN_TIMEOUT),
        (Signal::SIGQUIT, IMMEDIATE_SHUTDOWN_TIMEOUT),
    ] {
        match pidfd_send_signal(&postmaster.pidfd, signal) {
            Err(error) if error.raw_os_error() == Some(libc::ESRCH) => return Ok(()),
            Err(error) => {
                warn!(pid = postmaster.pid, %signal, %error, "cannot signal the earlier postgresql");
            }
            Ok(()) => {}
        }
        if wait_exit(&postmaster.pidfd, limit).await {
            info!(pid = postmaster.pid, "the earlier postgresql has stopped");
            return Ok(());
        }
    }
    Err(LocalPostgresError::StopTimeout {
        pid: postmaster.pid,
    })
}

/// Polls the pidfd, which becomes readable when the process exits; it need
/// not be our child, so there is nothing to wait on instead.
async fn wait_exit(pidfd: &OwnedFd, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        let mut poll = libc::pollfd {
            fd: pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd and a zero timeout: poll only writes `revents`.
        if unsafe { libc::poll(&mut poll, 1, 0) } > 0 {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(READY_POLL).await;
    }
}

fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just created this fd; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn pidfd_send_signal(pidfd: &OwnedFd, signal: Signal) -> io::Result<()> {
    // SAFETY: a valid pidfd, a signal number, no siginfo and no flags.
    let result = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal as libc::c_int,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_give_state_and_parent_whatever_the_command_name() {
        assert_eq!(
            parse_stat("4242 (postgres) S 1 4242 4242 0 -1"),
            Some(("S", 1))
        );
        assert_eq!(
            parse_stat("77 (odd) name (x)) Z 901 77 77 0 -1"),
            Some(("Z", 901))
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn only_a_positive_first_line_of_the_lock_file_is_a_postmaster_pid() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(lock_pid(dir.path()), None);
        let lock = dir.path().join("postmaster.pid");
        fs::write(&lock, "4242\n/data/pgdata\n1700000000\n5432\n").unwrap();
        assert_eq!(lock_pid(dir.path()), Some(4242));
        fs::write(&lock, "-4242\n/data/pgdata\n").unwrap();
        assert_eq!(lock_pid(dir.path()), None);
    }

    #[test]
    fn the_port_is_the_fourth_line_of_the_lock_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(lock_port(dir.path()), None);
        let lock = dir.path().join("postmaster.pid");
        fs::write(
            &lock,
            "4242\n/data/pgdata\n1700000000\n54321\n\n127.0.0.1\n  1234   5678\nready   \n",
        )
        .unwrap();
        assert_eq!(lock_port(dir.path()), Some(54321));
        fs::write(&lock, "4242\n/data/pgdata\n").unwrap();
        assert_eq!(lock_port(dir.path()), None);
        fs::write(&lock, "4242\n/d\n1\nnot a port\n").unwrap();
        assert_eq!(lock_port(dir.path()), None);
    }

    #[test]
    fn a_process_not_working_in_the_data_dir_is_never_taken_for_its_server() {
        // This test process is alive and ours to signal, but not a postgres
        // in that directory: it must not be reported, let alone stopped.
        let dir = tempfile::tempdir().unwrap();
        assert!(inspect(std::process::id() as i32, dir.path()).is_none());
    }
}
