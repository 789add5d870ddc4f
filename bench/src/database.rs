//! The benchmark's database: a fresh database on the server of
//! `DATABASE_URL`, or on a private PostgreSQL started for the run, and the
//! work directory that holds the private server's data and the COPY file.

use std::path::{Path, PathBuf};

use goalpost::db::local::{LocalPostgres, LocalPostgresOptions};
use sqlx::{Connection, Executor, PgConnection};

use crate::error::{Context, Result};

/// A directory of our own for this run: the private PostgreSQL's data and
/// the COPY file.
pub struct WorkDir {
    /// The directory, under the system's temporary directory.
    pub path: PathBuf,
}

impl WorkDir {
    /// Creates a directory no other run uses (pid and time in its name).
    pub fn create() -> Result<WorkDir> {
        let path = std::env::temp_dir().join(format!(
            "goalpost-bench-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_micros()
        ));
        std::fs::create_dir_all(&path)
            .with_context(|| format!("create the work directory {}", path.display()))?;
        Ok(WorkDir { path })
    }

    /// Removes the directory, or says where it was kept.
    pub fn finish(self, keep: bool) -> Result<()> {
        if keep {
            progress!("kept {}", self.path.display());
            return Ok(());
        }
        std::fs::remove_dir_all(&self.path)
            .with_context(|| format!("remove the work directory {}", self.path.display()))
    }
}

/// The database server of the run and the benchmark database on it.
pub struct Database {
    /// The private server, when `DATABASE_URL` was not set.
    local: Option<LocalPostgres>,
    /// The server's `postgres` database, to create and drop ours.
    admin_url: String,
    /// The benchmark database, `goalpost_bench_<unix seconds>`.
    name: String,
    /// Where the private server keeps its data, for `--keep`.
    data_dir: PathBuf,
}

impl Database {
    /// Takes a database server: `DATABASE_URL` when set, else a private
    /// PostgreSQL under `work_dir` with its real durability settings. The
    /// benchmark database is not created yet: see [`Database::create`].
    pub async fn start(work_dir: &Path) -> Result<Database> {
        let name = format!("goalpost_bench_{}", chrono::Utc::now().timestamp());
        let data_dir = work_dir.join("postgres");
        let external = std::env::var("DATABASE_URL")
            .ok()
            .filter(|url| !url.trim().is_empty());
        let (local, admin_url) = match external {
            Some(url) => {
                progress!("using the server of DATABASE_URL");
                (None, url)
            }
            None => {
                progress!("starting a private PostgreSQL in {}", data_dir.display());
                let local = LocalPostgres::start(LocalPostgresOptions {
                    data_dir: data_dir.clone(),
                    // The real durability settings: the baseline and goalpost
                    // must both pay for fsync, as they would in production.
                    ephemeral: false,
                })
                .await
                .context(
                    "start a private PostgreSQL (or set DATABASE_URL to use an existing server)",
                )?;
                let admin_url = local.database_url("postgres");
                (Some(local), admin_url)
            }
        };
        Ok(Database {
            local,
            admin_url,
            name,
            data_dir,
        })
    }

    /// The private server, when `DATABASE_URL` was not set.
    pub fn local(&self) -> Option<&LocalPostgres> {
        self.local.as_ref()
    }

    /// The server's `postgres` database, for databases beside ours.
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    /// The URL of the benchmark database.
    pub fn url(&self) -> Result<String> {
        match &self.local {
            Some(local) => Ok(local.database_url(&self.name)),
            None => with_database_name(&self.admin_url, &self.name),
        }
    }

    /// Creates the empty benchmark database (the service migrates it).
    pub async fn create(&self) -> Result<()> {
        let name = &self.name;
        let mut admin = PgConnection::connect(&self.admin_url)
            .await
            .context("connect to PostgreSQL as admin")?;
        // `name` is ours (letters, digits and underscores), so formatting it
        // into the statement is safe.
        admin
            .execute(format!(r#"create database "{name}""#).as_str())
            .await
            .with_context(|| format!("create database {name}"))?;
        admin
            .close()
            .await
            .context("disconnect the admin session")?;
        progress!("created database {name}");
        Ok(())
    }

    /// Stops the private server, or drops the benchmark database from a
    /// `DATABASE_URL` server (so runs do not pile up millions of rows on
    /// someone's server) unless `keep`.
    pub async fn finish(self, keep: bool) -> Result<()> {
        let name = &self.name;
        match self.local {
            Some(local) => {
                let stopped = local.stop().await.context("stop the private PostgreSQL");
                if keep {
                    progress!(
                        "kept database {name} in the stopped private PostgreSQL under {}",
                        self.data_dir.display()
                    );
                }
                stopped
            }
            None if keep => {
                progress!("kept database {name}");
                Ok(())
            }
            None => {
                let mut admin = PgConnection::connect(&self.admin_url)
                    .await
                    .context("connect to PostgreSQL as admin")?;
                admin
                    .execute(format!(r#"drop database if exists "{name}""#).as_str())
                    .await
                    .with_context(|| format!("drop database {name}"))?;
                admin.close().await.context("disconnect the admin session")
            }
        }
    }
}

/// `url` with its database replaced by `name`.
pub fn with_database_name(url: &str, name: &str) -> Result<String> {
    let mut parsed = url::Url::parse(url).context("the database server's URL is not a URL")?;
    parsed.set_path(name);
    Ok(parsed.into())
}

/// Asks PostgreSQL for a checkpoint; a role without the right to (outside
/// superusers and pg_checkpoint) only makes the figures a little noisier, so
/// that is a note, not a failure.
pub async fn checkpoint(db: &mut PgConnection) {
    if let Err(error) = db.execute("checkpoint").await {
        progress!("note: no checkpoint before the timed load ({error})");
    }
}

/// Vacuums and analyses the benchmark database, as autovacuum does within
/// minutes of a bulk load: reads are timed in that steady state, not while
/// autovacuum works through five million new rows beside them.
pub async fn vacuum_analyze(db: &mut PgConnection) -> Result<()> {
    db.execute("vacuum (analyze)")
        .await
        .context("vacuum and analyse the benchmark database")?;
    Ok(())
}

/// The server's version, for the report.
pub async fn server_version(db: &mut PgConnection) -> Result<String> {
    sqlx::query_scalar("show server_version")
        .fetch_one(db)
        .await
        .context("read the PostgreSQL version")
}
