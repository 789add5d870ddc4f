//! Where one-off commands (`goalpost bi grant`, `goalpost token`) find
//! goalpost's database: `DATABASE_URL` when set, else the private PostgreSQL
//! under `--data-dir` (see `db::local`): the one a running `goalpost serve`
//! owns, reached through the port in its lock file and the password beside
//! it, or, when none runs, one started for the command and stopped after it.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};

use crate::db::local::{
    LocalPostgres, LocalPostgresError, LocalPostgresOptions, running_service_options,
};

/// Why a command could not reach the database.
#[derive(Debug, thiserror::Error)]
pub enum CommandDatabaseError {
    /// DATABASE_URL does not parse.
    #[error("invalid DATABASE_URL: {0}")]
    DatabaseUrl(#[source] sqlx::Error),

    /// No DATABASE_URL, and no private instance under the data dir.
    #[error(
        "DATABASE_URL is not set and {} holds no goalpost database; run `goalpost serve` once \
         (with the same --data-dir) or set DATABASE_URL",
        data_dir.display()
    )]
    NoLocalData {
        /// The data dir looked at.
        data_dir: PathBuf,
    },

    /// The private instance could not be reached or started.
    #[error(transparent)]
    Local(LocalPostgresError),

    /// The database did not accept the connection.
    #[error("cannot connect to {target}: {source}")]
    Connect {
        /// What was connected to, for people.
        target: String,
        /// The underlying error.
        source: sqlx::Error,
    },
}

/// What to do when there is no DATABASE_URL and `--data-dir` holds no
/// cluster yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenNoLocalData {
    /// Fail with [`CommandDatabaseError::NoLocalData`]: the command needs
    /// data that only `goalpost serve` creates.
    Refuse,
    /// Create the cluster, as `goalpost serve` would; the command applies
    /// the migrations it needs itself.
    Create,
}

/// A connection to goalpost's database, and where the database is.
pub struct CommandDatabase {
    /// A connection as the role goalpost itself uses (the private
    /// instance's superuser, or DATABASE_URL's user).
    pub connection: PgConnection,
    /// The database's host, as clients such as BI tools reach it.
    pub host: String,
    /// The database's port.
    pub port: u16,
    /// Set when the private instance was started for this command: its port
    /// lasts only until it stops, and `goalpost serve` will pick another.
    temporary: Option<LocalPostgres>,
}

impl CommandDatabase {
    /// Whether the port is that of an instance started for this command.
    pub fn is_temporary(&self) -> bool {
        self.temporary.is_some()
    }

    /// Connects to `database_url`, or else to the private instance under
    /// `data_dir`.
    pub async fn open(
        database_url: Option<&str>,
        data_dir: &Path,
        when_no_local_data: WhenNoLocalData,
    ) -> Result<CommandDatabase, CommandDatabaseError> {
        match database_url {
            Some(url) => {
                let options =
                    PgConnectOptions::from_str(url).map_err(CommandDatabaseError::DatabaseUrl)?;
                let connection =
                    options
                        .connect()
                        .await
                        .map_err(|source| CommandDatabaseError::Connect {
                            target: "DATABASE_URL".to_owned(),
                            source,
                        })?;
                Ok(CommandDatabase {
                    connection,
                    host: options.get_host().to_owned(),
                    port: options.get_port(),
                    temporary: None,
                })
            }
            None => open_local(data_dir, when_no_local_data).await,
        }
    }

    /// Closes the connection and stops an instance started for the command.
    pub async fn close(self) -> Result<(), LocalPostgresError> {
        let _ = self.connection.close().await;
        if let Some(instance) = self.temporary {
            instance.stop().await?;
        }
        Ok(())
    }
}

async fn open_local(
    data_dir: &Path,
    when_no_local_data: WhenNoLocalData,
) -> Result<CommandDatabase, CommandDatabaseError> {
    // Starting an instance on an empty data dir initdbs a new, empty
    // cluster, which only some commands can use.
    if when_no_local_data == WhenNoLocalData::Refuse
        && !data_dir.join("pgdata").join("PG_VERSION").exists()
    {
        return Err(CommandDatabaseError::NoLocalData {
            data_dir: data_dir.to_owned(),
        });
    }
    if let Some(options) = running_service_options(data_dir).map_err(CommandDatabaseError::Local)? {
        match options.connect().await {
            Ok(connection) => {
                return Ok(CommandDatabase {
                    connection,
                    host: options.get_host().to_owned(),
                    port: options.get_port(),
                    temporary: None,
                });
            }
            // Nobody listens: a lock file left by a server that died. Start
            // one below, which deals with what is left of the old one.
            Err(sqlx::Error::Io(_)) => {}
            Err(source) => {
                return Err(CommandDatabaseError::Connect {
                    target: format!("the private PostgreSQL on port {}", options.get_port()),
                    source,
                });
            }
        }
    }
    let instance = LocalPostgres::start(LocalPostgresOptions {
        data_dir: data_dir.to_owned(),
        ephemeral: false,
    })
    .await
    .map_err(CommandDatabaseError::Local)?;
    let options = instance.service_options();
    let connection = match options.connect().await {
        Ok(connection) => connection,
        Err(source) => {
            let _ = instance.stop().await;
            return Err(CommandDatabaseError::Connect {
                target: format!("the private PostgreSQL on port {}", options.get_port()),
                source,
            });
        }
    };
    Ok(CommandDatabase {
        connection,
        host: options.get_host().to_owned(),
        port: options.get_port(),
        temporary: Some(instance),
    })
}

/// Where the lock file naming a private instance's port is, for people.
pub fn lock_file(data_dir: &Path) -> PathBuf {
    data_dir.join("pgdata").join("postmaster.pid")
}
