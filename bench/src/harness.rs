//! What every benchmark runs inside: a work directory, a database server
//! with a fresh database, and the service over it, all torn down afterwards
//! whatever happened in between.

use std::path::Path;

use goalpost::db::local::LocalPostgres;

use crate::database::{Database, WorkDir};
use crate::error::Result;
use crate::service::{Service, service_binary};

/// The running surroundings handed to a benchmark.
pub struct Harness<'a> {
    /// The service under test.
    pub service: &'a Service,
    /// The benchmark database, for checks with SQL and the psql baseline.
    pub database_url: &'a str,
    /// The run's own temporary directory.
    pub work_dir: &'a Path,
    /// The private PostgreSQL, when `DATABASE_URL` was not set.
    pub postgres: Option<&'a LocalPostgres>,
    /// The server's `postgres` database.
    pub admin_url: &'a str,
}

/// Runs `body` against a freshly started service over a fresh database,
/// then stops the service and the private PostgreSQL and removes the
/// temporary files (with `keep`, the directory and the database stay).
pub async fn with_service(
    keep: bool,
    body: impl AsyncFnOnce(&Harness<'_>) -> Result<()>,
) -> Result<()> {
    // Checked before anything starts: finding it missing after minutes of
    // set-up would waste the run.
    let binary = service_binary()?;
    let work = WorkDir::create()?;
    let result = with_database(keep, &binary, &work.path, body).await;
    let removed = work.finish(keep);
    result.and(removed)
}

/// Takes a database server, creates the benchmark database on it, runs the
/// service and `body`, then releases the server.
async fn with_database(
    keep: bool,
    binary: &Path,
    work_dir: &Path,
    body: impl AsyncFnOnce(&Harness<'_>) -> Result<()>,
) -> Result<()> {
    let database = Database::start(work_dir).await?;
    let result = async {
        database.create().await?;
        let database_url = database.url()?;
        let service = Service::start(binary, &database_url).await?;
        progress!(
            "goalpost serving on {} (pid {})",
            service.address,
            service.pid
        );
        let harness = Harness {
            service: &service,
            database_url: &database_url,
            work_dir,
            postgres: database.local(),
            admin_url: database.admin_url(),
        };
        let result = body(&harness).await;
        let stopped = service.stop().await;
        result.and(stopped)
    }
    .await;
    let cleaned = database.finish(keep).await;
    result.and(cleaned)
}
