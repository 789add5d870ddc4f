//! What can go wrong with a private instance.

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

use nix::errno::Errno;

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

    /// The log file could not be opened or rotated.
    #[error("cannot open or rotate the PostgreSQL log {}: {source}; check the permissions of the data dir", path.display())]
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

    /// A server we started still holds the data directory, and the goalpost
    /// process that started it is still running.
    #[error(
        "the data dir {} is in use by the PostgreSQL of goalpost process {owner_pid}; stop that \
         process or choose another data dir",
        data_dir.display()
    )]
    InUse {
        /// The contested data directory.
        data_dir: PathBuf,
        /// The goalpost process that owns the running server.
        owner_pid: i32,
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
