//! `goalpost-bench`: benchmarks of goalpost that print figures, run against
//! a real PostgreSQL.
//!
//! Every benchmark runs in the same surroundings ([`harness`]): it takes a
//! database server (`DATABASE_URL` when set, else a private PostgreSQL
//! started from the server binaries on the machine, with its real
//! durability settings: fsync and synchronous commit on), creates a fresh
//! database `goalpost_bench_<unix seconds>` on it, starts the release
//! `goalpost serve` binary built next to this one over that database as a
//! child process, waits until its health check answers SERVING, and at the
//! end stops the service and the private PostgreSQL and removes its
//! temporary files (unless `--keep`).
//!
//! `goalpost-bench ingest` ([`ingest`]), in one run:
//!
//! 1. creates `--accounts` accounts and picks the first `--metrics` base
//!    metrics of the catalog (by key), through the API;
//! 2. encodes N = accounts × metrics × points observations ([`dataset`]) as
//!    StreamObservations chunks in memory (not timed), loads them through
//!    `MetricService/StreamObservations` as one client stream, and times it
//!    from the first chunk sent to the acknowledgement (when the service has
//!    committed them); then checks with SQL that all N rows are stored, and
//!    reads the service's peak resident set size (`VmHWM`) ([`load`]);
//! 3. writes the very same rows to a PostgreSQL binary COPY file with the
//!    service's own encoder (not timed) and times `psql \copy … (format
//!    binary)` of that file into a bare table of the same shape as
//!    goalpost's observation table, without partitions or rollups: the
//!    ceiling goalpost is measured against ([`baseline`]);
//! 4. prints both rates, their ratio (the goal is at least 0.5) and the peak
//!    RSS (the goal is under 256 MiB);
//! 5. times `QueryMetric` over the loaded data ([`queries`]) and pages
//!    through the first 1,000,000 observations with `ListObservations`,
//!    1,000 a page, printing the first and the last page's time (flat is the
//!    goal) with the median and p99.
//!
//! Both loads start from ready-made input, so both rates measure loading:
//! psql reads a binary COPY file written beforehand, the goalpost client
//! sends protobuf chunks encoded beforehand. Everything runs on one
//! machine: the benchmark client, the service and PostgreSQL share its
//! cores, as psql and PostgreSQL do for the baseline.
//!
//! Run it with:
//!
//! ```text
//! cargo build --release --workspace && target/release/goalpost-bench ingest
//! ```
//!
//! `--rows`, `--accounts`, `--metrics`, `--chunk-size` and
//! `--query-iterations` change the shape of the run; `--keep` leaves the
//! temporary directory (and, with `DATABASE_URL`, the benchmark database)
//! behind for a look afterwards.

use std::io;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Progress lines go to stderr, so stdout holds only the report.
macro_rules! progress {
    ($($arg:tt)*) => { eprintln!("goalpost-bench: {}", format_args!($($arg)*)) };
}

mod baseline;
mod capacity;
mod database;
mod dataset;
mod error;
mod goals;
mod harness;
mod ingest;
mod load;
mod progress;
mod queries;
mod report;
mod resilience;
mod service;
mod watch;

/// The most observations a stream chunk may carry (proto limit).
const MAX_CHUNK_ROWS: u32 = 10_000;

/// Benchmarks of goalpost, run against a real PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "goalpost-bench", version, about)]
struct Cli {
    /// The benchmark to run.
    #[command(subcommand)]
    command: BenchCommand,
}

/// The benchmarks.
#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Load observations through StreamObservations and through psql's binary
    /// \copy, compare the rates, and time QueryMetric over the loaded data.
    Ingest(IngestArgs),
    /// Load the ingest data set, create goals over it, and time
    /// ProgressService's reads and QueryMetric against their goals.
    Progress(ProgressArgs),
    /// Time WatchGoalProgress's messages under a steady write load, and the
    /// cost of a subscriber to that load.
    Watch(WatchArgs),
    /// Write while PostgreSQL is killed again and again and count what was
    /// lost, then hold unary read load against the machine's ceilings.
    Resilience(ResilienceArgs),
}

/// The shape of the data set every benchmark loads, and what to keep.
#[derive(Debug, Args)]
struct DataArgs {
    /// How many observations to load; rounded to a multiple of accounts ×
    /// metrics, since every series gets the same number of points.
    #[arg(long, default_value_t = 5_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    rows: u64,

    /// How many accounts to create.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..))]
    accounts: u32,

    /// How many base metrics to observe, the first ones of the catalog by key.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    metrics: u32,

    /// Observations per StreamObservations chunk (at most 10,000).
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_CHUNK_ROWS)))]
    chunk_size: u32,

    /// Keep the temporary directory (and a DATABASE_URL benchmark database)
    /// instead of removing it at the end.
    #[arg(long)]
    keep: bool,
}

/// Settings of `goalpost-bench ingest`.
#[derive(Debug, Args)]
struct IngestArgs {
    /// The data set.
    #[command(flatten)]
    data: DataArgs,

    /// Timed QueryMetric calls per query (after 10 warm-up calls).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    query_iterations: u32,
}

/// Settings of `goalpost-bench progress`.
#[derive(Debug, Args)]
struct ProgressArgs {
    /// The data set.
    #[command(flatten)]
    data: DataArgs,

    /// How many goals to create, each of three key results.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..=1_000))]
    goals: u32,

    /// Timed calls of GetGoalProgress (each case) and QueryMetric (each
    /// query), after 10 warm-up calls.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    iterations: u32,

    /// Timed GetProgressHistory calls, after 2 warm-up calls.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    history_iterations: u32,

    /// Timed ListGoalProgress calls, after 1 warm-up call.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    list_iterations: u32,
}

/// Settings of `goalpost-bench watch`.
#[derive(Debug, Args)]
struct WatchArgs {
    /// Observations written a second.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    rate: u32,

    /// Observations per WriteObservations call.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    batch: u32,

    /// Seconds of load in each phase, without and with a subscriber.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    seconds: u32,

    /// Accounts the writes rotate through.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    accounts: u32,

    /// Rows of a bulk StreamObservations call made at the end while the
    /// subscriber watches, counting the messages it causes; 0 skips it.
    #[arg(long, default_value_t = 1_000_000)]
    bulk_rows: u64,

    /// Keep the temporary directory (and a DATABASE_URL benchmark database).
    #[arg(long)]
    keep: bool,
}

/// Settings of `goalpost-bench resilience`.
#[derive(Debug, Args)]
pub struct ResilienceArgs {
    /// Seconds of writing while PostgreSQL is killed.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    seconds: u32,

    /// Seconds between two kills of the postmaster.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    kill_every_secs: u32,

    /// Writers sending WriteObservations batches.
    #[arg(long, default_value_t = 4)]
    batch_writers: u32,

    /// Writers sending StreamObservations streams.
    #[arg(long, default_value_t = 2)]
    stream_writers: u32,

    /// Rows of a batch, and of a stream's chunk.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    batch: u32,

    /// Chunks of a stream.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    stream_chunks: u32,

    /// Accounts the rows rotate through.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    accounts: u32,

    /// Client counts of the read load, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16,64")]
    clients: Vec<u32>,

    /// Seconds of each read load level.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    load_seconds: u32,

    /// Skip the read load (no h2load or pgbench needed).
    #[arg(long)]
    skip_load: bool,

    /// Keep the temporary directory.
    #[arg(long)]
    keep: bool,
}

/// Both parts of the resilience benchmark, in one service's run.
async fn resilience_run(args: ResilienceArgs) -> error::Result<()> {
    if std::env::var("DATABASE_URL").is_ok_and(|url| !url.trim().is_empty()) {
        return Err("the resilience benchmark kills its PostgreSQL: unset DATABASE_URL so it runs a private one".into());
    }
    if !args.skip_load {
        capacity::check_tools().await?;
    }
    harness::with_service(args.keep, async |harness: &harness::Harness<'_>| {
        let postgres = harness
            .postgres
            .ok_or("the resilience benchmark needs a private PostgreSQL")?;
        let channel = &harness.service.channel;
        let loss = resilience::run(&args, channel, harness.database_url, postgres).await?;
        println!("goalpost resilience benchmark");
        resilience::report(&loss);
        if !args.skip_load {
            let mut audits =
                goalpost::pb::audit_service_client::AuditServiceClient::new(channel.clone());
            let accounts = load::create_accounts_named(&mut audits, "load", 10).await?;
            capacity::run(
                harness.service,
                &accounts,
                harness.admin_url,
                harness.work_dir,
                &args.clients,
                args.load_seconds,
            )
            .await?;
        }
        Ok(())
    })
    .await
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    let result = match cli.command {
        BenchCommand::Ingest(args) => ingest::ingest(args).await,
        BenchCommand::Progress(args) => progress::progress(args).await,
        BenchCommand::Watch(args) => watch::watch(args).await,
        BenchCommand::Resilience(args) => resilience_run(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("goalpost-bench: error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Shows warnings of the library code we call (the private PostgreSQL),
/// without its start-up chatter; `RUST_LOG` overrides.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _already_set = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .try_init();
}
