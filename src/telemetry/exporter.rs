//! The process's Prometheus recorder: installed once when a metrics address
//! is configured, it collects what the code records through the `metrics`
//! facade (a no-op while no recorder is installed) plus figures sampled at
//! scrape time from the server being scraped.
//!
//! The recorder is process-wide, as a Prometheus target is: one server
//! process, one set of series. Several servers in one process (only tests
//! do that) share the counters; the sampled gauges are taken from the
//! server whose endpoint is scraped.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use metrics::Unit;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sqlx::PgPool;

use super::grpc_calls::{REQUEST_DURATION_SECONDS, REQUESTS_IN_FLIGHT, REQUESTS_TOTAL};
use crate::changes::hub::Hub;

/// Observations stored, counted when their write commits, by `method`
/// (`WriteObservations` or `StreamObservations`).
pub const OBSERVATIONS_INGESTED_TOTAL: &str = "goalpost_observations_ingested_total";
/// Observations stored per StreamObservations call that committed.
pub const STREAM_OBSERVATIONS_ROWS: &str = "goalpost_stream_observations_rows";
/// Database connections the pool holds, idle or in use.
pub const DB_POOL_CONNECTIONS: &str = "goalpost_db_pool_connections";
/// Database connections the pool holds idle.
pub const DB_POOL_IDLE_CONNECTIONS: &str = "goalpost_db_pool_idle_connections";
/// The most connections the pool may hold.
pub const DB_POOL_MAX_CONNECTIONS: &str = "goalpost_db_pool_max_connections";
/// Calls that waited the whole acquire timeout for a connection and failed.
pub const DB_POOL_ACQUIRE_TIMEOUTS_TOTAL: &str = "goalpost_db_pool_acquire_timeouts_total";
/// GetGoal calls answered from the goal cache (`outcome="hit"`) or from
/// the database (`outcome="miss"`).
pub const GOAL_CACHE_READS_TOTAL: &str = "goalpost_goal_cache_reads_total";
/// Statements cancelled because the call that started them was abandoned
/// by its client.
pub const ABANDONED_STATEMENTS_CANCELLED_TOTAL: &str =
    "goalpost_abandoned_statements_cancelled_total";
/// Watchers registered with this server's change hub: one per open
/// WatchGoalProgress call, plus the snapshot recorder's own while it runs.
pub const WATCH_SUBSCRIBERS: &str = "goalpost_watch_subscribers";

/// Latency buckets in seconds: sub-millisecond reads up to long streams.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 300.0,
];
/// Rows-per-stream buckets, by powers of ten up to a large backfill.
const STREAM_ROWS_BUCKETS: &[f64] = &[
    1.0,
    10.0,
    100.0,
    1_000.0,
    10_000.0,
    100_000.0,
    1_000_000.0,
    10_000_000.0,
];
/// How often histogram samples are folded into their buckets when nobody
/// scrapes, which keeps their memory bounded.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Why the recorder could not be installed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot set up the Prometheus recorder: {0}")]
pub struct RecorderError(String);

/// A handle on the installed recorder.
#[derive(Debug, Clone)]
pub struct Exporter {
    handle: PrometheusHandle,
    process: metrics_process::Collector,
}

/// What is sampled at scrape time: the scraped server's own parts.
#[derive(Clone)]
pub struct ScrapeSources {
    /// The server's database pool.
    pub pool: PgPool,
    /// The server's change hub, which knows its watchers.
    pub hub: Hub,
}

static INSTALLED: OnceLock<Result<Exporter, RecorderError>> = OnceLock::new();

/// Sampling sets process-wide gauges and renders them: one scrape at a
/// time, so a scrape shows its own server's figures.
static SCRAPING: Mutex<()> = Mutex::new(());

impl Exporter {
    /// Installs the process's recorder, or returns the one installed
    /// already. Fails if something else installed a `metrics` recorder.
    pub fn install() -> Result<Exporter, RecorderError> {
        INSTALLED.get_or_init(build).clone()
    }

    /// The metrics in Prometheus's text format, with the sampled figures
    /// taken from `sources` now.
    pub fn render(&self, sources: &ScrapeSources) -> String {
        let _one_at_a_time = SCRAPING
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let pool = &sources.pool;
        metrics::gauge!(DB_POOL_CONNECTIONS).set(f64::from(pool.size()));
        metrics::gauge!(DB_POOL_IDLE_CONNECTIONS).set(pool.num_idle() as f64);
        metrics::gauge!(DB_POOL_MAX_CONNECTIONS)
            .set(f64::from(pool.options().get_max_connections()));
        metrics::gauge!(WATCH_SUBSCRIBERS).set(sources.hub.subscribers() as f64);
        self.process.collect();
        self.handle.render()
    }
}

fn build() -> Result<Exporter, RecorderError> {
    let failed = |error: &dyn std::fmt::Display| RecorderError(error.to_string());
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(REQUEST_DURATION_SECONDS.to_owned()),
            LATENCY_BUCKETS,
        )
        .and_then(|builder| {
            builder.set_buckets_for_metric(
                Matcher::Full(STREAM_OBSERVATIONS_ROWS.to_owned()),
                STREAM_ROWS_BUCKETS,
            )
        })
        .map_err(|error| failed(&error))?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|error| failed(&error))?;
    let process = metrics_process::Collector::default();
    process.describe();
    describe();
    // A thread rather than a task: the recorder outlives any one runtime
    // (tests start a runtime per test).
    let upkeep = handle.clone();
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                upkeep.run_upkeep();
            }
        })
        .map_err(|error| failed(&error))?;
    Ok(Exporter { handle, process })
}

/// The `# HELP` lines of goalpost's own metrics.
fn describe() {
    metrics::describe_counter!(
        REQUESTS_TOTAL,
        "gRPC calls finished, by service, method and status code (streams count when they end)"
    );
    metrics::describe_histogram!(
        REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "How long gRPC calls took, from the request to the end of the response, by service, method and status code"
    );
    metrics::describe_counter!(
        OBSERVATIONS_INGESTED_TOTAL,
        "Observations stored by WriteObservations and StreamObservations, counted when their transaction commits"
    );
    metrics::describe_histogram!(
        STREAM_OBSERVATIONS_ROWS,
        "Observations stored per StreamObservations call that committed"
    );
    metrics::describe_gauge!(
        DB_POOL_CONNECTIONS,
        "Database connections the pool holds, idle or in use"
    );
    metrics::describe_gauge!(
        DB_POOL_IDLE_CONNECTIONS,
        "Database connections the pool holds idle"
    );
    metrics::describe_gauge!(
        DB_POOL_MAX_CONNECTIONS,
        "The most database connections the pool may hold"
    );
    metrics::describe_counter!(
        DB_POOL_ACQUIRE_TIMEOUTS_TOTAL,
        "Calls that waited the whole acquire timeout for a database connection and failed"
    );
    metrics::describe_gauge!(
        REQUESTS_IN_FLIGHT,
        "gRPC calls started and not yet finished, by service and method"
    );
    metrics::describe_gauge!(
        WATCH_SUBSCRIBERS,
        "Watchers registered with this server's change hub: one per open WatchGoalProgress call, plus the snapshot recorder's while it runs"
    );
    metrics::describe_counter!(
        GOAL_CACHE_READS_TOTAL,
        "Goals read by GetGoal and the progress methods, answered from the goal cache (outcome hit) or from the database (outcome miss)"
    );
    metrics::describe_counter!(
        ABANDONED_STATEMENTS_CANCELLED_TOTAL,
        "Cancels sent to PostgreSQL for the running statements of calls their clients gave up on"
    );
    // Counters that may stay at zero for long are shown from the start, so
    // rates and alerts over them need no guard against a missing series.
    metrics::counter!(DB_POOL_ACQUIRE_TIMEOUTS_TOTAL).absolute(0);
    metrics::counter!(ABANDONED_STATEMENTS_CANCELLED_TOTAL).absolute(0);
    for outcome in ["hit", "miss"] {
        metrics::counter!(GOAL_CACHE_READS_TOTAL, "outcome" => outcome).absolute(0);
    }
    for method in ["WriteObservations", "StreamObservations"] {
        metrics::counter!(OBSERVATIONS_INGESTED_TOTAL, "method" => method).absolute(0);
    }
}

/// Records `rows` observations stored by a WriteObservations call that
/// committed.
pub fn observations_written(rows: i64) {
    metrics::counter!(OBSERVATIONS_INGESTED_TOTAL, "method" => "WriteObservations")
        .increment(u64::try_from(rows).unwrap_or(0));
}

/// Records a StreamObservations call that committed `rows` observations.
pub fn stream_written(rows: i64) {
    let rows = u64::try_from(rows).unwrap_or(0);
    metrics::counter!(OBSERVATIONS_INGESTED_TOTAL, "method" => "StreamObservations")
        .increment(rows);
    metrics::histogram!(STREAM_OBSERVATIONS_ROWS).record(rows as f64);
}

/// Records a goal read (by GetGoal or progress) answered from the goal cache (`hit`) or not.
pub fn goal_cache_read(hit: bool) {
    let outcome = if hit { "hit" } else { "miss" };
    metrics::counter!(GOAL_CACHE_READS_TOTAL, "outcome" => outcome).increment(1);
}

/// Records a cancel sent for an abandoned call's statement.
pub fn abandoned_statement_cancelled() {
    metrics::counter!(ABANDONED_STATEMENTS_CANCELLED_TOTAL).increment(1);
}

/// Records a call that gave up waiting for a pooled connection.
pub fn pool_acquire_timed_out() {
    metrics::counter!(DB_POOL_ACQUIRE_TIMEOUTS_TOTAL).increment(1);
}
