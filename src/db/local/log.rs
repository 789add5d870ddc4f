//! The server log: handing it to PostgreSQL, reading back what one attempt
//! wrote, and keeping its size bounded.
//!
//! PostgreSQL writes to `postgres.log` through a file descriptor it inherits
//! (opened in append mode), not through its logging collector: the file
//! stays ours, and the output of initdb and of an early start-up failure
//! lands in the same place. Rotation is therefore done here, by copying and
//! truncating (as logrotate's `copytruncate` does): a writer in append mode
//! simply continues at the new end, so neither a running server nor one left
//! by an earlier goalpost needs to reopen anything.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use tracing::{info, warn};

use super::{LOG_TAIL_LINES, LocalPostgresError};

/// The size above which the log is rotated, checked at start-up and every
/// [`LOG_CHECK_INTERVAL`] while the server runs.
pub(super) const LOG_ROTATE_BYTES: u64 = 10 * 1024 * 1024;
/// How many rotated logs are kept: `postgres.log.1` (the newest) up to
/// `postgres.log.3`, so the logs never take much more than 40 MiB.
pub(super) const LOG_KEEP: u32 = 3;
/// How often a running server's log size is checked. PostgreSQL logs little
/// at our settings, so a minute cannot let the log overshoot by much.
pub(super) const LOG_CHECK_INTERVAL: Duration = Duration::from_secs(60);

pub(super) fn open_log(path: &Path) -> Result<File, LocalPostgresError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| LocalPostgresError::Log {
            path: path.to_path_buf(),
            source,
        })
}

/// Gives a command the log as stdout and stderr; both are fds inherited by
/// the child, so the file stays ours and needs no chown.
pub(super) fn log_to(command: &mut Command, log_path: &Path) -> Result<(), LocalPostgresError> {
    let log = open_log(log_path)?;
    let log_err = log.try_clone().map_err(|source| LocalPostgresError::Log {
        path: log_path.to_path_buf(),
        source,
    })?;
    command.stdin(Stdio::null()).stdout(log).stderr(log_err);
    Ok(())
}

pub(super) fn log_len(path: &Path) -> u64 {
    fs::metadata(path).map(|meta| meta.len()).unwrap_or(0)
}

/// What was appended to the log since `offset`, so errors show this
/// attempt's lines and not those of earlier runs. If the log was rotated
/// since (it is shorter than `offset`), all of it is this attempt's.
pub(super) fn read_log_from(path: &Path, offset: u64) -> String {
    let read = || -> io::Result<String> {
        let mut file = File::open(path)?;
        let offset = if file.metadata()?.len() < offset {
            0
        } else {
            offset
        };
        file.seek(SeekFrom::Start(offset))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    read().unwrap_or_else(|error| format!("(cannot read {}: {error})", path.display()))
}

pub(super) fn tail_lines(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
    if tail.trim().is_empty() {
        "(nothing was logged)".to_owned()
    } else {
        tail
    }
}

/// `postgres.log.<n>`: the `n`th newest rotated log.
fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Rotates the log if it is larger than `limit`: the current content moves
/// to `<log>.1`, older ones shift up by one, and the one beyond `keep` is
/// deleted. Returns whether it rotated.
///
/// Lines written between the copy and the truncation are lost; with
/// PostgreSQL's few lines a minute that window almost never holds one.
pub(super) fn rotate_if_over(path: &Path, limit: u64, keep: u32) -> io::Result<bool> {
    let size = match fs::metadata(path) {
        Ok(meta) => meta.len(),
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(error) => return Err(error),
    };
    if size <= limit || keep == 0 {
        return Ok(false);
    }
    match fs::remove_file(rotated(path, keep)) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    for n in (1..keep).rev() {
        match fs::rename(rotated(path, n), rotated(path, n + 1)) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
    }
    let mut current = OpenOptions::new().read(true).write(true).open(path)?;
    let mut copy = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(rotated(path, 1))?;
    io::copy(&mut current, &mut copy)?;
    current.set_len(0)?;
    info!(log = %path.display(), bytes = size, "rotated the postgresql log");
    Ok(true)
}

/// Body of the thread that keeps a running server's log bounded; it ends
/// when `stop`'s sender is dropped, which the supervisor does once the
/// server has exited.
pub(super) fn rotate_while_running(path: PathBuf, stop: Receiver<()>) {
    loop {
        match stop.recv_timeout(LOG_CHECK_INTERVAL) {
            Err(RecvTimeoutError::Timeout) => {
                if let Err(error) = rotate_if_over(&path, LOG_ROTATE_BYTES, LOG_KEEP) {
                    warn!(log = %path.display(), %error, "cannot rotate the postgresql log");
                }
            }
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_tails_keep_the_last_lines() {
        let log: String = (1..=30).map(|n| format!("line {n}\n")).collect();
        let tail = tail_lines(&log);
        assert!(tail.starts_with("line 11\n"));
        assert!(tail.ends_with("line 30"));
        assert_eq!(tail_lines(""), "(nothing was logged)");
    }

    #[test]
    fn a_log_within_the_limit_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("postgres.log");
        fs::write(&log, "0123456789").unwrap();
        assert!(!rotate_if_over(&log, 10, 3).unwrap());
        assert_eq!(fs::read_to_string(&log).unwrap(), "0123456789");
        assert!(!rotated(&log, 1).exists());
        // A missing log is nothing to rotate either.
        assert!(!rotate_if_over(&dir.path().join("absent.log"), 10, 3).unwrap());
    }

    #[test]
    fn rotation_shifts_old_logs_and_drops_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("postgres.log");
        for n in 1..=3 {
            fs::write(rotated(&log, n), format!("rotated {n}")).unwrap();
        }
        fs::write(&log, "current, over the limit").unwrap();

        assert!(rotate_if_over(&log, 10, 3).unwrap());

        assert_eq!(fs::read_to_string(&log).unwrap(), "");
        assert_eq!(
            fs::read_to_string(rotated(&log, 1)).unwrap(),
            "current, over the limit"
        );
        assert_eq!(fs::read_to_string(rotated(&log, 2)).unwrap(), "rotated 1");
        assert_eq!(fs::read_to_string(rotated(&log, 3)).unwrap(), "rotated 2");
        assert!(
            !rotated(&log, 4).exists(),
            "only three rotated logs are kept"
        );
    }

    #[test]
    fn an_append_mode_writer_continues_at_the_start_after_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("postgres.log");
        // The server's side: an fd opened once, in append mode.
        let mut writer = open_log(&log).unwrap();
        io::Write::write_all(&mut writer, b"before rotation, long enough\n").unwrap();

        assert!(rotate_if_over(&log, 10, 3).unwrap());
        io::Write::write_all(&mut writer, b"after\n").unwrap();

        assert_eq!(fs::read_to_string(&log).unwrap(), "after\n");
        assert_eq!(
            fs::read_to_string(rotated(&log, 1)).unwrap(),
            "before rotation, long enough\n"
        );
    }

    #[test]
    fn reading_from_an_offset_past_a_rotated_log_reads_it_all() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("postgres.log");
        fs::write(&log, "fresh line\n").unwrap();
        assert_eq!(read_log_from(&log, 1_000), "fresh line\n");
        assert_eq!(read_log_from(&log, 6), "line\n");
    }
}
