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
//! ```
//!
//! The server is the `postgres` binary spawned directly (not through
//! `pg_ctl`) so that we own the process: we know its pid, learn at once when
//! it exits, and can arrange for it to shut down when we die.

use std::fmt;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::prctl;
use nix::sys::signal::{self, Signal};
use nix::sys::wait::{Id, WaitPidFlag, waitid};
use nix::unistd::{self, Gid, Pid, Uid, User};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::{oneshot, watch};
use tokio::time::{Instant, sleep, timeout};
use tracing::{info, warn};

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

/// A running private PostgreSQL server.
///
/// Dropping it without [`LocalPostgres::stop`] still asks the server to shut
/// down (without waiting), and the server also shuts down by itself if this
/// process dies, so no server is left behind either way.
pub struct LocalPostgres {
    port: u16,
    password: String,
    data_dir: PathBuf,
    pid: Pid,
    /// `Some` once the server has exited and been reaped. Holding a borrow of
    /// it keeps the supervisor from reaping, which is what makes signalling
    /// `pid` safe (see [`LocalPostgres::signal`]).
    exit: watch::Receiver<Option<String>>,
}

/// Why a private PostgreSQL instance could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum LocalPostgresError {
    /// No directory with both `initdb` and `postgres` was found.
    #[error(
        "no PostgreSQL server binaries found (looked at GOALPOST_PG_BIN_DIR, `pg_config --bindir`, \
         initdb on PATH and /usr/lib/postgresql/*/bin); install them (`apt-get install postgresql` \
         on Debian/Ubuntu, `dnf install postgresql-server` on Fedora, `brew install postgresql` on \
         macOS) or set DATABASE_URL to use an existing server"
    )]
    BinariesNotFound,

    /// `GOALPOST_PG_BIN_DIR` names a directory without the server binaries.
    #[error(
        "GOALPOST_PG_BIN_DIR is {} but it has no initdb and postgres executables; point it at the \
         directory of the PostgreSQL server binaries or unset it",
        dir.display()
    )]
    InvalidBinDir {
        /// The directory named by the variable.
        dir: PathBuf,
    },

    /// The data directory or the cluster directory inside it could not be created or inspected.
    #[error(
        "cannot prepare the data directory {}: {source}; check its permissions or choose another data dir",
        path.display()
    )]
    DataDir {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },

    /// Running as root, where PostgreSQL refuses to run, and no `postgres` user to switch to.
    #[error(
        "PostgreSQL refuses to run as root and there is no `postgres` OS user to run it as; create \
         that user (installing the PostgreSQL server package does) or run goalpost as an ordinary user"
    )]
    NoPostgresUser,

    /// The user database could not be queried for the `postgres` user.
    #[error(
        "cannot look up the `postgres` OS user: {0}; check the system user database (/etc/passwd)"
    )]
    UserLookup(#[source] Errno),

    /// Handing a file to the `postgres` user failed.
    #[error(
        "cannot give {} to the `postgres` OS user: {source}; use a data dir on a file system that \
         allows changing ownership",
        path.display()
    )]
    Chown {
        /// The path that could not be chowned.
        path: PathBuf,
        /// The underlying error.
        source: Errno,
    },

    /// Some directory on the way to the data directory is closed to the `postgres` user.
    #[error(
        "the `postgres` OS user cannot enter {}, so it cannot reach the data dir; make that directory \
         searchable by it (chmod o+x) or choose a data dir elsewhere",
        dir.display()
    )]
    Unreachable {
        /// The first directory, from the root down, the user cannot search.
        dir: PathBuf,
    },

    /// The cluster exists but the password needed to log in to it is gone.
    #[error(
        "the cluster in {} exists but its password file {} is missing; restore that file or remove \
         the cluster directory to start with an empty one",
        pgdata.display(),
        path.display()
    )]
    MissingPassword {
        /// The cluster directory.
        pgdata: PathBuf,
        /// Where the password file should be.
        path: PathBuf,
    },

    /// Reading or writing the password file (or initdb's copy of it) failed.
    #[error(
        "cannot read or write the password file {}: {source}; check the permissions of the data dir",
        path.display()
    )]
    PasswordFile {
        /// The file that failed.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },

    /// The server rejected the password from the password file.
    #[error(
        "PostgreSQL rejected the password in {}; restore the password the cluster was created with \
         or remove the data dir to start over",
        path.display()
    )]
    PasswordRejected {
        /// The password file.
        path: PathBuf,
    },

    /// The log file could not be opened.
    #[error("cannot open the PostgreSQL log {}: {source}; check the permissions of the data dir", path.display())]
    Log {
        /// The log file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },

    /// A PostgreSQL binary could not be executed at all.
    #[error(
        "cannot run {}: {source}; check the PostgreSQL installation or set GOALPOST_PG_BIN_DIR",
        program.display()
    )]
    Spawn {
        /// The binary.
        program: PathBuf,
        /// The underlying error.
        source: io::Error,
    },

    /// initdb ran and failed.
    #[error(
        "initdb failed for {} ({status}); fix the cause shown in {} and start again, the last lines are:\n{tail}",
        pgdata.display(),
        log.display()
    )]
    Initdb {
        /// The cluster directory.
        pgdata: PathBuf,
        /// How initdb exited.
        status: ExitStatus,
        /// The log holding initdb's output.
        log: PathBuf,
        /// The last lines initdb wrote.
        tail: String,
    },

    /// No port could be reserved on the loopback interface.
    #[error("cannot find a free port on 127.0.0.1: {0}; check that the loopback interface is up")]
    NoFreePort(#[source] io::Error),

    /// Another postmaster holds the data directory.
    #[error(
        "another PostgreSQL instance is using the data dir {}; stop it (or the goalpost process that \
         started it) or choose another data dir",
        data_dir.display()
    )]
    AlreadyRunning {
        /// The contested data directory.
        data_dir: PathBuf,
    },

    /// The server exited before accepting connections.
    #[error(
        "PostgreSQL exited during start-up ({status}); fix the cause shown in {} and start again, \
         the last lines are:\n{tail}",
        log.display()
    )]
    ExitedDuringStartup {
        /// How the server exited.
        status: String,
        /// The server log.
        log: PathBuf,
        /// The last lines the server wrote.
        tail: String,
    },

    /// The server kept running but never accepted a connection.
    #[error(
        "PostgreSQL did not accept connections within {secs} s (last error: {last_error}); check {}, \
         the last lines are:\n{tail}",
        log.display()
    )]
    StartTimeout {
        /// How long we waited.
        secs: u64,
        /// The last connection error seen.
        last_error: String,
        /// The server log.
        log: PathBuf,
        /// The last lines the server wrote.
        tail: String,
    },

    /// The service database could not be created.
    #[error("cannot create the goalpost database: {0}; check the PostgreSQL log in the data dir")]
    CreateDatabase(#[source] sqlx::Error),

    /// The supervising thread could not be started.
    #[error(
        "cannot start a thread to supervise PostgreSQL: {0}; the system may be out of threads or memory"
    )]
    Supervisor(#[source] io::Error),

    /// The server survived both fast and immediate shutdown requests.
    #[error(
        "PostgreSQL (pid {pid}) did not stop after SIGINT and SIGQUIT; kill it by hand (kill -9 {pid})"
    )]
    StopTimeout {
        /// The postmaster's pid.
        pid: i32,
    },
}

impl LocalPostgres {
    /// Initialises the cluster on first use, then starts it on a free loopback port and waits until it accepts connections.
    ///
    /// Also creates the `goalpost` database if it does not exist yet.
    pub async fn start(options: LocalPostgresOptions) -> Result<LocalPostgres, LocalPostgresError> {
        // Finding binaries, preparing directories and initdb are all blocking
        // work (initdb takes seconds), so keep them off the async workers.
        let ephemeral = options.ephemeral;
        let prepared = tokio::task::spawn_blocking(move || prepare(&options))
            .await
            .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))?;

        let mut attempt = 1;
        loop {
            let port = free_port()?;
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
                    info!(
                        port,
                        pid = instance.pid.as_raw(),
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
                    if port_taken && attempt < START_ATTEMPTS {
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

    /// Fast shutdown (SIGINT), waiting for the server to exit; escalate to SIGQUIT after a timeout.
    ///
    /// Fast shutdown ends sessions and writes a checkpoint, so the next start
    /// needs no recovery; SIGQUIT (immediate shutdown) is only the fallback.
    pub async fn stop(mut self) -> Result<(), LocalPostgresError> {
        self.signal(Signal::SIGINT);
        if let Some(status) = self.wait_exit(FAST_SHUTDOWN_TIMEOUT).await {
            info!(data_dir = %self.data_dir.display(), %status, "private postgresql stopped");
            return Ok(());
        }
        warn!(
            pid = self.pid.as_raw(),
            timeout_secs = FAST_SHUTDOWN_TIMEOUT.as_secs(),
            "postgresql did not stop after sigint, sending sigquit"
        );
        self.signal(Signal::SIGQUIT);
        if let Some(status) = self.wait_exit(IMMEDIATE_SHUTDOWN_TIMEOUT).await {
            info!(data_dir = %self.data_dir.display(), %status, "private postgresql stopped");
            return Ok(());
        }
        Err(LocalPostgresError::StopTimeout {
            pid: self.pid.as_raw(),
        })
    }

    /// Sends `signal` to the postmaster unless it has already been reaped.
    ///
    /// The supervisor reaps the child inside the watch channel's write lock,
    /// and the borrow below holds its read lock, so while we look at `None`
    /// the pid cannot have been recycled for an unrelated process.
    fn signal(&self, signal: Signal) {
        let exit = self.exit.borrow();
        if exit.is_none()
            && let Err(error) = signal::kill(self.pid, signal)
        {
            warn!(pid = self.pid.as_raw(), %signal, %error, "cannot signal postgresql");
        }
    }

    /// Waits up to `limit` for the server to exit; returns how it exited.
    async fn wait_exit(&mut self, limit: Duration) -> Option<String> {
        match timeout(limit, self.exit.wait_for(Option::is_some)).await {
            Ok(Ok(exit)) => exit.clone(),
            // The supervisor only drops its sender after reporting the exit,
            // or if it panicked; either way there is nothing left to wait for.
            Ok(Err(_)) => Some("unknown status".to_owned()),
            Err(_) => None,
        }
    }

    /// Polls until the server accepts a connection to the `postgres` database.
    async fn wait_ready(&mut self) -> Result<PgConnection, NotReady> {
        let options = PgConnectOptions::new()
            .host("127.0.0.1")
            .port(self.port)
            .username(SUPERUSER)
            .password(&self.password)
            .database("postgres")
            .ssl_mode(PgSslMode::Disable);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.exit.borrow().clone() {
                return Err(NotReady::Exited(status));
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
        self.signal(Signal::SIGINT);
    }
}

impl fmt::Debug for LocalPostgres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Hand-written so the password never ends up in logs.
        f.debug_struct("LocalPostgres")
            .field("port", &self.port)
            .field("data_dir", &self.data_dir)
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

/// Why waiting for readiness ended without a connection.
enum NotReady {
    Exited(String),
    PasswordRejected,
    TimedOut { last_error: String },
}

/// The OS identity the server runs as when we are root.
#[derive(Clone, Copy)]
struct RunAs {
    uid: Uid,
    gid: Gid,
}

/// Everything `start` needs once the cluster exists.
struct Prepared {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    pgdata: PathBuf,
    log_path: PathBuf,
    password: String,
    run_as: Option<RunAs>,
}

/// Blocking part of start-up: binaries, directories, password, initdb.
fn prepare(options: &LocalPostgresOptions) -> Result<Prepared, LocalPostgresError> {
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
fn find_bin_dir() -> Result<PathBuf, LocalPostgresError> {
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
fn highest_debian_bin_dir(root: &Path) -> Option<PathBuf> {
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

fn parse_version(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

fn has_server_binaries(dir: &Path) -> bool {
    is_executable(&dir.join("initdb")) && is_executable(&dir.join("postgres"))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

/// Makes sure the `postgres` user can walk down to `data_dir`.
///
/// Only `data_dir` itself is ours to open up; a closed ancestor is the
/// user's decision, so we name it instead of changing it.
fn make_reachable(data_dir: &Path, run_as: RunAs) -> Result<(), LocalPostgresError> {
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
fn can_search(meta: &fs::Metadata, run_as: RunAs) -> bool {
    let mode = meta.permissions().mode();
    if meta.uid() == run_as.uid.as_raw() {
        mode & 0o100 != 0
    } else if meta.gid() == run_as.gid.as_raw() {
        mode & 0o010 != 0
    } else {
        mode & 0o001 != 0
    }
}

fn chown(path: &Path, run_as: RunAs) -> Result<(), LocalPostgresError> {
    unistd::chown(path, Some(run_as.uid), Some(run_as.gid)).map_err(|source| {
        LocalPostgresError::Chown {
            path: path.to_path_buf(),
            source,
        }
    })
}

fn read_password(path: &Path) -> Result<Option<String>, LocalPostgresError> {
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
fn write_private_file(
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

fn open_log(path: &Path) -> Result<File, LocalPostgresError> {
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
fn log_to(command: &mut Command, log_path: &Path) -> Result<(), LocalPostgresError> {
    let log = open_log(log_path)?;
    let log_err = log.try_clone().map_err(|source| LocalPostgresError::Log {
        path: log_path.to_path_buf(),
        source,
    })?;
    command.stdin(Stdio::null()).stdout(log).stderr(log_err);
    Ok(())
}

fn initdb(prepared: &Prepared, ephemeral: bool) -> Result<(), LocalPostgresError> {
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

/// A port nobody listens on right now. The listener is dropped before
/// PostgreSQL binds, so this can race; `start` retries when it loses.
fn free_port() -> Result<u16, LocalPostgresError> {
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
async fn spawn_postgres(
    prepared: &Prepared,
    port: u16,
    ephemeral: bool,
) -> Result<LocalPostgres, LocalPostgresError> {
    let program = prepared.bin_dir.join("postgres");
    let mut command = Command::new(&program);
    command
        .arg("-D")
        .arg(&prepared.pgdata)
        .arg("-p")
        .arg(port.to_string())
        .args(["-c", "listen_addresses=127.0.0.1"])
        // No Unix socket: nothing needs it, and socket paths are length-limited.
        .args(["-c", "unix_socket_directories="])
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
    let parent = unistd::getpid();
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
    std::thread::Builder::new()
        .name("postgres-supervisor".to_owned())
        .spawn(move || supervise(command, spawned_tx, exit_tx))
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

/// Body of the supervisor thread: spawn, report the pid, wait, report the exit.
fn supervise(
    mut command: Command,
    spawned: oneshot::Sender<io::Result<Pid>>,
    exit: watch::Sender<Option<String>>,
) {
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

fn log_len(path: &Path) -> u64 {
    fs::metadata(path).map(|meta| meta.len()).unwrap_or(0)
}

/// What was appended to the log since `offset`, so errors show this
/// attempt's lines and not those of earlier runs.
fn read_log_from(path: &Path, offset: u64) -> String {
    let read = || -> io::Result<String> {
        let mut file = File::open(path)?;
        file.seek(SeekFrom::Start(offset))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    read().unwrap_or_else(|error| format!("(cannot read {}: {error})", path.display()))
}

fn tail_lines(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
    if tail.trim().is_empty() {
        "(nothing was logged)".to_owned()
    } else {
        tail
    }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn an_instance_can_live_in_a_static() {
        // Test harnesses keep one instance for the whole test binary.
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<LocalPostgres>();
    }

    #[test]
    fn log_tails_keep_the_last_lines() {
        let log: String = (1..=30).map(|n| format!("line {n}\n")).collect();
        let tail = tail_lines(&log);
        assert!(tail.starts_with("line 11\n"));
        assert!(tail.ends_with("line 30"));
        assert_eq!(tail_lines(""), "(nothing was logged)");
    }
}
