//! The PostgreSQL connection pool and the embedded migrations.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;

/// The schema migrations in `migrations/`, compiled into the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// How long a call waits for a pooled connection before answering
/// UNAVAILABLE; sqlx's 30 s default would hang callers when the database is down.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens a pool of at most `max_connections` connections to `url`.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect(url)
        .await
}
