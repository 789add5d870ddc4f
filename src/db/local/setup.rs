//! Preparing an instance: finding the server binaries, the data directory
//! and its permissions, the password, the log, and initdb.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::unistd::{self, Gid, Uid, User};
use tracing::info;

use super::log::{
    LOG_KEEP, LOG_ROTATE_BYTES, log_len, log_to, read_log_from, rotate_if_over, tail_lines,
};
use super::{LocalPostgresError, LocalPostgresOptions, SUPERUSER};

/// The OS identity the server runs as when we are root.
#[derive(Clone, Copy)]
pub(super) struct RunAs {
    pub(super) uid: Uid,
    pub(super) gid: Gid,
}

/// Everything `start` needs once the cluster exists.
pub(super) struct Prepared {
    pub(super) bin_dir: PathBuf,
    pub(super) data_dir: PathBuf,
    pub(super) pgdata: PathBuf,
    pub(super) log_path: PathBuf,
    pub(super) password: String,
    pub(super) run_as: Option<RunAs>,
}

/// Blocking part of start-up: binaries, directories, password, initdb.
pub(super) fn prepare(options: &LocalPostgresOptions) -> Result<Prepared, LocalPostgresError> {
    let bin_dir = find_bin_dir()?;
    fs::create_dir_all(&options.data_dir).map_err(|source| LocalPostgresError::DataDir {
        path: options.data_dir.clone(),
        source,
    })?;
    // Absolute paths: the server changes into its data directory, and
    // relative paths would also depend on our working directory.
    let data_dir =
        fs::canonicalize(&options.data_dir).map_err(|source| LocalPostgresError::DataDir {
            path: options.data_dir.clone(),
            source,
        })?;

    let run_as = if unistd::geteuid().is_root() {
        let user = User::from_name("postgres")
            .map_err(LocalPostgresError::UserLookup)?
            .ok_or(LocalPostgresError::NoPostgresUser)?;
        let run_as = RunAs {
            uid: user.uid,
            gid: user.gid,
        };
        make_reachable(&data_dir, run_as)?;
        Some(run_as)
    } else {
        None
    };

    let pgdata = data_dir.join("pgdata");
    if !pgdata.exists() {
        // PostgreSQL insists on 0700 (or 0750) for its data directory.
        DirBuilder::new()
            .mode(0o700)
            .create(&pgdata)
            .map_err(|source| LocalPostgresError::DataDir {
                path: pgdata.clone(),
                source,
            })?;
    }
    if let Some(run_as) = run_as {
        chown(&pgdata, run_as)?;
    }

    let log_path = data_dir.join("postgres.log");
    // Before anything of this run is written, so the lines of this start
    // (and of a failure) are all in the current log.
    rotate_if_over(&log_path, LOG_ROTATE_BYTES, LOG_KEEP).map_err(|source| {
        LocalPostgresError::Log {
            path: log_path.clone(),
            source,
        }
    })?;
    let password_path = data_dir.join("password");
    let initialised =
        pgdata
            .join("PG_VERSION")
            .try_exists()
            .map_err(|source| LocalPostgresError::DataDir {
                path: pgdata.clone(),
                source,
            })?;

    let password = match read_password(&password_path)? {
        Some(password) => password,
        None if initialised => {
            return Err(LocalPostgresError::MissingPassword {
                pgdata,
                path: password_path,
            });
        }
        None => {
            let password = uuid::Uuid::new_v4().simple().to_string();
            write_private_file(&password_path, &password, None)?;
            password
        }
    };

    let prepared = Prepared {
        bin_dir,
        data_dir,
        pgdata,
        log_path,
        password,
        run_as,
    };
    if !initialised {
        initdb(&prepared, options.ephemeral)?;
    }
    Ok(prepared)
}

/// Locates a directory holding both `initdb` and `postgres`, in the order
/// the design documents: explicit override, pg_config, PATH, Debian layout.
pub(super) fn find_bin_dir() -> Result<PathBuf, LocalPostgresError> {
    if let Some(dir) = std::env::var_os("GOALPOST_PG_BIN_DIR") {
        let dir = PathBuf::from(dir);
        return if has_server_binaries(&dir) {
            Ok(dir)
        } else {
            Err(LocalPostgresError::InvalidBinDir { dir })
        };
    }

    // On Debian, pg_config on PATH may come from libpq-dev and point at a
    // directory without the server, hence the check rather than trust.
    if let Ok(output) = Command::new("pg_config")
        .arg("--bindir")
        .stderr(Stdio::null())
        .output()
        && output.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if has_server_binaries(&dir) {
            return Ok(dir);
        }
    }

    // initdb on PATH is often a symlink (Debian wrappers, Homebrew), and the
    // postgres binary sits next to its target, not next to the link.
    if let Some(initdb) = find_on_path("initdb")
        && let Ok(initdb) = fs::canonicalize(initdb)
        && let Some(dir) = initdb.parent()
        && has_server_binaries(dir)
    {
        return Ok(dir.to_path_buf());
    }

    highest_debian_bin_dir(Path::new("/usr/lib/postgresql"))
        .ok_or(LocalPostgresError::BinariesNotFound)
}

/// The `<version>/bin` under `root` with the highest version that has the
/// server binaries; versions compare numerically so 10 beats 9.6.
pub(super) fn highest_debian_bin_dir(root: &Path) -> Option<PathBuf> {
    fs::read_dir(root)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = parse_version(entry.file_name().to_str()?)?;
            let bin = entry.path().join("bin");
            has_server_binaries(&bin).then_some((version, bin))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, bin)| bin)
}

pub(super) fn parse_version(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

pub(super) fn has_server_binaries(dir: &Path) -> bool {
    is_executable(&dir.join("initdb")) && is_executable(&dir.join("postgres"))
}

pub(super) fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

pub(super) fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

/// Makes sure the `postgres` user can walk down to `data_dir`.
///
/// Only `data_dir` itself is ours to open up; a closed ancestor is the
/// user's decision, so we name it instead of changing it.
pub(super) fn make_reachable(data_dir: &Path, run_as: RunAs) -> Result<(), LocalPostgresError> {
    let meta = fs::metadata(data_dir).map_err(|source| LocalPostgresError::DataDir {
        path: data_dir.to_path_buf(),
        source,
    })?;
    if !can_search(&meta, run_as) {
        let mode = meta.permissions().mode() | 0o755;
        fs::set_permissions(data_dir, fs::Permissions::from_mode(mode)).map_err(|source| {
            LocalPostgresError::DataDir {
                path: data_dir.to_path_buf(),
                source,
            }
        })?;
    }
    // Walk from the root down so the error names the outermost culprit.
    let mut ancestors: Vec<&Path> = data_dir.ancestors().collect();
    ancestors.reverse();
    for dir in ancestors {
        let meta = fs::metadata(dir).map_err(|source| LocalPostgresError::DataDir {
            path: dir.to_path_buf(),
            source,
        })?;
        if !can_search(&meta, run_as) {
            return Err(LocalPostgresError::Unreachable {
                dir: dir.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// Whether `run_as` may search (enter) a directory with this metadata.
///
/// Only the primary group counts: when std switches uid as root it drops
/// all supplementary groups, so the server has none.
pub(super) fn can_search(meta: &fs::Metadata, run_as: RunAs) -> bool {
    let mode = meta.permissions().mode();
    if meta.uid() == run_as.uid.as_raw() {
        mode & 0o100 != 0
    } else if meta.gid() == run_as.gid.as_raw() {
        mode & 0o010 != 0
    } else {
        mode & 0o001 != 0
    }
}

pub(super) fn chown(path: &Path, run_as: RunAs) -> Result<(), LocalPostgresError> {
    unistd::chown(path, Some(run_as.uid), Some(run_as.gid)).map_err(|source| {
        LocalPostgresError::Chown {
            path: path.to_path_buf(),
            source,
        }
    })
}

pub(super) fn read_password(path: &Path) -> Result<Option<String>, LocalPostgresError> {
    match fs::read_to_string(path) {
        Ok(contents) => {
            Ok(Some(contents.trim().to_owned()).filter(|password| !password.is_empty()))
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(LocalPostgresError::PasswordFile {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes a 0600 file from scratch, optionally handing it to `owner`.
pub(super) fn write_private_file(
    path: &Path,
    contents: &str,
    owner: Option<RunAs>,
) -> Result<(), LocalPostgresError> {
    let to_error = |source| LocalPostgresError::PasswordFile {
        path: path.to_path_buf(),
        source,
    };
    // Removing first guarantees the mode: an existing file would keep its own.
    match fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(to_error(error)),
        _ => {}
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(to_error)?;
    file.write_all(contents.as_bytes()).map_err(to_error)?;
    file.sync_all().map_err(to_error)?;
    if let Some(owner) = owner {
        chown(path, owner)?;
    }
    Ok(())
}

pub(super) fn initdb(prepared: &Prepared, ephemeral: bool) -> Result<(), LocalPostgresError> {
    info!(data_dir = %prepared.data_dir.display(), bin_dir = %prepared.bin_dir.display(), "initialising private postgresql cluster");
    // initdb only takes the password from a file; it must be readable by
    // the user initdb runs as, and it goes away right after.
    let pwfile = prepared.data_dir.join("initdb-pwfile");
    write_private_file(&pwfile, &prepared.password, prepared.run_as)?;

    let program = prepared.bin_dir.join("initdb");
    let mut command = Command::new(&program);
    command
        .arg("-D")
        .arg(&prepared.pgdata)
        .arg("-U")
        .arg(SUPERUSER)
        .arg("--auth=scram-sha-256")
        .arg(format!("--pwfile={}", pwfile.display()))
        .args(["-E", "UTF8", "--locale=C.UTF-8"])
        .current_dir(&prepared.data_dir)
        // Its own process group: a Ctrl-C at the terminal goes to goalpost
        // alone, which drains its calls before stopping the database.
        .process_group(0);
    if ephemeral {
        command.arg("--no-sync");
    }
    if let Some(run_as) = prepared.run_as {
        command.uid(run_as.uid.as_raw()).gid(run_as.gid.as_raw());
    }
    log_to(&mut command, &prepared.log_path)?;
    let log_offset = log_len(&prepared.log_path);

    let status = command.status();
    let _ = fs::remove_file(&pwfile);
    let status = status.map_err(|source| LocalPostgresError::Spawn { program, source })?;
    if !status.success() {
        return Err(LocalPostgresError::Initdb {
            pgdata: prepared.pgdata.clone(),
            status,
            log: prepared.log_path.clone(),
            tail: tail_lines(&read_log_from(&prepared.log_path, log_offset)),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn versions_compare_numerically() {
        let root = tempfile::tempdir().unwrap();
        for version in ["9.6", "10", "15", "abc"] {
            let bin = root.path().join(version).join("bin");
            fs::create_dir_all(&bin).unwrap();
            for program in ["initdb", "postgres"] {
                let path = bin.join(program);
                fs::write(&path, "").unwrap();
                fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
        // 16 has no server binaries, so it must not win.
        fs::create_dir_all(root.path().join("16/bin")).unwrap();
        assert_eq!(
            highest_debian_bin_dir(root.path()),
            Some(root.path().join("15/bin"))
        );
    }
}
