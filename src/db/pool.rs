//! The PostgreSQL connection pool and the embedded migrations.

use std::str::FromStr;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// The schema migrations in `migrations/`, compiled into the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// How long a call waits for a pooled connection before answering
/// UNAVAILABLE; sqlx's 30 s default would hang callers when the database is down.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A pool for the change listener: one connection, opened when first used
/// and again whenever it is lost.
pub fn connect_listener(url: &str) -> Result<PgPool, sqlx::Error> {
    Ok(PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_lazy_with(PgConnectOptions::from_str(url)?))
}

/// Opens a pool of at most `max_connections` connections to `url`.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    // The service's reads are short, indexed lookups: starting parallel
    // workers costs more latency than it saves, and steals cores from
    // concurrent calls. JIT compilation likewise: the planner's cost of a
    // read over the yearly partitions (one index probe each, pruned while
    // running) crosses the JIT threshold, and compiling such a plan was
    // measured at 14 s for a read that runs in 0.5 s without it. And
    // always a plan for the statement's own values: with its bounds known,
    // the planner keeps only the yearly partitions they reach, where a
    // prepared statement's generic plan (PostgreSQL tries one on a
    // connection's sixth execution) plans every partition and locks them
    // all on each run.
    let options = PgConnectOptions::from_str(url)?.options([
        ("max_parallel_workers_per_gather", "0"),
        ("jit", "off"),
        ("plan_cache_mode", "force_custom_plan"),
    ]);
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
}
