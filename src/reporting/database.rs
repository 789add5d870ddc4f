//! Where `goalpost bi grant` finds goalpost's database: `DATABASE_URL` when
//! set, else the private PostgreSQL under `--data-dir` (see `db::local`):
//! the one a running `goalpost serve` owns, reached through the port in its
//! lock file and the password beside it, or, when none runs, one started for
//! the command and stopped after it.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::{ConnectOptions, Connection};

use super::GrantError;
use crate::db::local::{LocalPostgres, LocalPostgresError, LocalPostgresOptions};

/// The superuser and database of a private instance (`db::local` creates
/// both under these names).
const LOCAL_USER: &str = "goalpost";
const LOCAL_DATABASE: &str = "goalpost";

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
    let pgdata = data_dir.join("pgdata");
    // Starting an instance on an empty data dir would initdb a new, empty
    // cluster: there is nothing to grant on there.
    if !pgdata.join("PG_VERSION").exists() {
        return Err(GrantError::NoLocalData {
            data_dir: data_dir.to_owned(),
        });
    }
    if let Some(port) = running_port(&pgdata) {
        let password = read_password(data_dir)?;
        match local_options(port, &password).connect().await {
            Ok(connection) => {
                return Ok(Database {
                    connection,
                    host: "127.0.0.1".to_owned(),
                    port,
                    temporary: None,
                });
            }
            // Nobody listens: a lock file left by a server that died. Start
            // one below, which deals with what is left of the old one.
            Err(sqlx::Error::Io(_)) => {}
            Err(source) => {
                return Err(GrantError::Connect {
                    target: format!("the private PostgreSQL on port {port}"),
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
    let port = instance.port();
    let password = read_password(data_dir)?;
    let connection = match local_options(port, &password).connect().await {
        Ok(connection) => connection,
        Err(source) => {
            let _ = instance.stop().await;
            return Err(GrantError::Connect {
                target: format!("the private PostgreSQL on port {port}"),
                source,
            });
        }
    };
    Ok(Database {
        connection,
        host: "127.0.0.1".to_owned(),
        port,
        temporary: Some(instance),
    })
}

fn local_options(port: u16, password: &str) -> PgConnectOptions {
    PgConnectOptions::new()
        .host("127.0.0.1")
        .port(port)
        .username(LOCAL_USER)
        .password(password)
        .database(LOCAL_DATABASE)
        .ssl_mode(PgSslMode::Disable)
}

/// The private instance's superuser password, which `db::local` keeps in
/// the data dir.
fn read_password(data_dir: &Path) -> Result<String, GrantError> {
    let path = data_dir.join("password");
    std::fs::read_to_string(&path)
        .map(|password| password.trim().to_owned())
        .map_err(|source| {
            GrantError::Local(LocalPostgresError::DataDir {
                path: path.clone(),
                source,
            })
        })
}

/// The port of the server holding `pgdata`, from its lock file, if any.
fn running_port(pgdata: &Path) -> Option<u16> {
    let lock = std::fs::read_to_string(pgdata.join("postmaster.pid")).ok()?;
    port_from_lock_file(&lock)
}

/// PostgreSQL's `postmaster.pid` holds the pid, the data directory, the
/// start time and the port on its first four lines.
fn port_from_lock_file(lock: &str) -> Option<u16> {
    lock.lines()
        .nth(3)?
        .trim()
        .parse()
        .ok()
        .filter(|port| *port != 0)
}

/// Where the lock file naming a private instance's port is, for people.
pub(super) fn lock_file(data_dir: &Path) -> PathBuf {
    data_dir.join("pgdata").join("postmaster.pid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_is_the_fourth_line_of_the_lock_file() {
        let lock = "4242\n/data/pgdata\n1700000000\n54321\n\n127.0.0.1\n  1234   5678\nready   \n";
        assert_eq!(port_from_lock_file(lock), Some(54321));
        assert_eq!(port_from_lock_file("4242\n/data/pgdata\n"), None);
        assert_eq!(port_from_lock_file("4242\n/d\n1\nnot a port\n"), None);
        assert_eq!(port_from_lock_file(""), None);
    }
}
