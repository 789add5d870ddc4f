//! Where `goalpost bi grant` finds goalpost's database: `DATABASE_URL` when
//! set, else the private PostgreSQL under `--data-dir` (see `db::local`):
//! the one a running `goalpost serve` owns, reached through the port in its
//! lock file and the password beside it, or, when none runs, one started for
//! the command and stopped after it.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};

use super::GrantError;
use crate::db::local::{LocalPostgres, LocalPostgresOptions, running_service_options};

/// A connection to goalpost's database, and how BI tools reach it.
pub(super) struct Database {
    /// A connection as a role that may create roles and grant on `reporting`.
    pub connection: PgConnection,
    /// The host BI tools connect to.
    pub host: String,
    /// The port BI tools connect to.
    pub port: u16,
    /// Set when the private instance was started for this command: its port
    /// lasts only until it stops, and `goalpost serve` will pick another.
    temporary: Option<LocalPostgres>,
}

impl Database {
    /// Whether the port is that of an instance started for this command.
    pub fn is_temporary(&self) -> bool {
        self.temporary.is_some()
    }

    /// Connects as `settings` say.
    pub async fn open(database_url: Option<&str>, data_dir: &Path) -> Result<Database, GrantError> {
        match database_url {
            Some(url) => {
                let options = PgConnectOptions::from_str(url).map_err(GrantError::DatabaseUrl)?;
                let connection = options
                    .connect()
                    .await
                    .map_err(|source| GrantError::Connect {
                        target: "DATABASE_URL".to_owned(),
                        source,
                    })?;
                Ok(Database {
                    connection,
                    host: options.get_host().to_owned(),
                    port: options.get_port(),
                    temporary: None,
                })
            }
            None => open_local(data_dir).await,
        }
    }

    /// Closes the connection and stops an instance started for the command.
    pub async fn close(self) -> Result<(), GrantError> {
        let _ = self.connection.close().await;
        if let Some(instance) = self.temporary {
            instance.stop().await.map_err(GrantError::Local)?;
        }
        Ok(())
    }
}

async fn open_local(data_dir: &Path) -> Result<Database, GrantError> {
    // Starting an instance on an empty data dir would initdb a new, empty
    // cluster: there is nothing to grant on there.
    if !data_dir.join("pgdata").join("PG_VERSION").exists() {
        return Err(GrantError::NoLocalData {
            data_dir: data_dir.to_owned(),
        });
    }
    if let Some(options) = running_service_options(data_dir).map_err(GrantError::Local)? {
        match options.connect().await {
            Ok(connection) => {
                return Ok(Database {
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
                return Err(GrantError::Connect {
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
    .map_err(GrantError::Local)?;
    let options = instance.service_options();
    let connection = match options.connect().await {
        Ok(connection) => connection,
        Err(source) => {
            let _ = instance.stop().await;
            return Err(GrantError::Connect {
                target: format!("the private PostgreSQL on port {}", options.get_port()),
                source,
            });
        }
    };
    Ok(Database {
        connection,
        host: options.get_host().to_owned(),
        port: options.get_port(),
        temporary: Some(instance),
    })
}

/// Where the lock file naming a private instance's port is, for people.
pub(super) fn lock_file(data_dir: &Path) -> PathBuf {
    data_dir.join("pgdata").join("postmaster.pid")
}
