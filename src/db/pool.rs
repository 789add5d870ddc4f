//! The PostgreSQL connection pool and the embedded migrations.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool};

use super::abandoned::Holders;
use crate::api::call_budget;

/// The schema migrations in `migrations/`, compiled into the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// How long a call waits for a pooled connection before answering
/// UNAVAILABLE; sqlx's 30 s default would hang callers when the database is down.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A pool of one connection, opened when first used and again whenever it
/// is lost: for a background task (the change listener, the selection
/// registrar) that must never take, or wait in, a slot the calls share.
pub fn connect_one(url: &str) -> Result<PgPool, sqlx::Error> {
    Ok(PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_lazy_with(PgConnectOptions::from_str(url)?))
}

/// Gives a connection about to serve a call the `statement_timeout` of
/// what is left of the call's budget, or `default` outside calls (see
/// [`call_budget`]), and records it against the call, so that the call's
/// statements can be cancelled if it is abandoned ([`super::abandoned`]). Run on
/// every connection the pool hands out, in the task that takes it; being a
/// round trip, it also shows that the connection still works, so the pool's
/// own test before handing one out (a second round trip) is off.
async fn prepare_for_call(
    connection: &mut PgConnection,
    default: Duration,
    holders: &Arc<Holders>,
) -> Result<(), sqlx::Error> {
    let millis = call_budget::statement_timeout(default);
    let (_, pid): (String, i32) =
        sqlx::query_as("select set_config('statement_timeout', $1, false), pg_backend_pid()")
            .bind(millis.to_string())
            .fetch_one(&mut *connection)
            .await?;
    holders.taken(pid).await;
    Ok(())
}

/// Opens a pool of at most `max_connections` connections to `url`, whose
/// statements are stopped after `default_statement_timeout` unless the call
/// they serve has less time left.
pub async fn connect(
    url: &str,
    max_connections: u32,
    default_statement_timeout: Duration,
) -> Result<PgPool, sqlx::Error> {
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
    // all on each run. (Letting PostgreSQL choose for the other statements,
    // with the partitioned reads sent unprepared, was tried: planning is
    // about half of a progress answer's PostgreSQL time, but generic plans
    // for the reads that bind arrays of series did no better overall in
    // the progress benchmark's runs, so every statement keeps its own plan.)
    let options = PgConnectOptions::from_str(url)?.options([
        ("max_parallel_workers_per_gather", "0"),
        ("jit", "off"),
        ("plan_cache_mode", "force_custom_plan"),
    ]);
    let holders = Holders::new(options.clone());
    let holders_of_new = holders.clone();
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(false)
        .after_connect(move |connection, _| {
            let holders = holders_of_new.clone();
            Box::pin(async move {
                prepare_for_call(connection, default_statement_timeout, &holders).await
            })
        })
        .before_acquire(move |connection, _| {
            let holders = holders.clone();
            Box::pin(async move {
                prepare_for_call(connection, default_statement_timeout, &holders).await?;
                Ok(true)
            })
        })
        .connect_with(options)
        .await
}
