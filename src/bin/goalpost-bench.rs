//! `goalpost-bench`: measures how fast goalpost ingests observations, against
//! PostgreSQL's own bulk-load ceiling on the same machine and database.
//!
//! `goalpost-bench ingest` does, in one run:
//!
//! 1. takes a database server: `DATABASE_URL` when set, else a private
//!    PostgreSQL started from the server binaries on the machine, with its
//!    real durability settings (fsync and synchronous commit on), and creates
//!    a fresh database `goalpost_bench_<unix seconds>` on it;
//! 2. starts the release `goalpost serve` binary (the one built next to this
//!    one) over that database as a child process, and waits until its health
//!    check answers SERVING;
//! 3. creates `--accounts` accounts and picks the first `--metrics` base
//!    metrics of the catalog (by key), through the API;
//! 4. encodes N = accounts × metrics × points observations as
//!    StreamObservations chunks in memory (not timed), loads them through
//!    `MetricService/StreamObservations` as one client stream, and times it
//!    from the first chunk sent to the acknowledgement (when the service has
//!    committed them); then checks with SQL that all N rows are stored, and
//!    reads the service's peak resident set size (`VmHWM`);
//! 5. writes the very same rows to a PostgreSQL binary COPY file (not
//!    timed) and times `psql \copy … (format binary)` of that file into a bare
//!    table of the same shape as goalpost's observation table (series id,
//!    time, value, source id, recorded_at; primary key (series id, time))
//!    without partitions or rollups: the ceiling goalpost is measured against;
//! 6. prints both rates, their ratio (the goal is at least 0.5) and the peak
//!    RSS (the goal is under 256 MiB);
//! 7. times `QueryMetric` over the loaded data: 30 DAY buckets over every
//!    account, for a SUM metric with the window aligned to UTC midnights and
//!    not aligned (partial days at both edges), and for a built-in derived
//!    metric whose terms were loaded, printing p50, p99 and the mean;
//! 8. pages through the first 1,000,000 observations with
//!    `ListObservations`, 1,000 a page, and prints the first and the last
//!    page's time (flat is the goal) with the median and p99;
//! 9. stops the service and the private PostgreSQL and removes its temporary
//!    files (unless `--keep`).
//!
//! The data is realistic and repeatable: each series (metric, account) has
//! one observation every 6 hours, ending about an hour before the run, at its
//! own minute offset; counts vary with the hour of day and the weekday, levels
//! such as `followers` grow slowly; everything comes from a fixed seed. Rows
//! come series by series (the order of a backfill exported per account and
//! metric).
//!
//! Both loads start from ready-made input, so both rates measure loading:
//! psql reads a binary COPY file written beforehand, the goalpost client
//! sends protobuf chunks encoded beforehand (about 85 bytes a row held in
//! the client's memory; generating and encoding rows is the work of the
//! systems that call goalpost, on their own machines). Everything runs on
//! one machine: the benchmark client, the service and PostgreSQL share its
//! cores, as psql and PostgreSQL do for the baseline.
//!
//! Run it with:
//!
//! ```text
//! cargo build --release && target/release/goalpost-bench ingest
//! ```
//!
//! `--rows`, `--accounts`, `--metrics`, `--chunk-size` and
//! `--query-iterations` change the shape of the run; `--keep` leaves the
//! temporary directory (and, with `DATABASE_URL`, the benchmark database)
//! behind for a look afterwards.

use std::error::Error;
use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::{BufMut, Bytes};
use clap::{Args, Parser, Subcommand};
use fastrand::Rng;
use goalpost::db::local::{LocalPostgres, LocalPostgresOptions};
use goalpost::pb;
use goalpost::pb::account::Network;
use goalpost::pb::audit_service_client::AuditServiceClient;
use goalpost::pb::metric_definition::{Aggregation, Kind};
use goalpost::pb::metric_service_client::MetricServiceClient;
use http::uri::PathAndQuery;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use prost::Message;
use sqlx::{Connection, Executor, PgConnection};
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep, timeout};
use tokio_stream::StreamExt;
use tonic::codec::{Codec, EncodeBuf, Encoder};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_prost::ProstDecoder;

/// Seed of every random draw, so two runs (and the two loads of one run)
/// see exactly the same rows.
const SEED: u64 = 0x676f_616c_706f_7374;
/// Time between two observations of one series: four a day, like an export
/// that samples insights every 6 hours.
const STEP_MICROS: i64 = 6 * 3_600 * 1_000_000;
/// One minute, the unit of each series' offset within the 6-hour step.
const MINUTE_MICROS: i64 = 60 * 1_000_000;
/// One UTC day.
const DAY_MICROS: i64 = 86_400 * 1_000_000;
/// The newest observation of a series is stamped about this long before the
/// start of the run (plus the series' offset): recent, never in the future.
const NEWEST_AGE_MICROS: i64 = 3_600 * 1_000_000;
/// Microseconds from the Unix epoch to PostgreSQL's epoch (2000-01-01 UTC),
/// the origin of timestamps in binary COPY.
const PG_EPOCH_MICROS: i64 = 946_684_800 * 1_000_000;
/// The largest message goalpost accepts (and the proto documents); the
/// client's limits are raised to it, tonic's 4 MiB default being smaller.
const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// The most observations a stream chunk may carry (proto limit).
const MAX_CHUNK_ROWS: u32 = 10_000;
/// Calls made before timing QueryMetric, so connection set-up, plan caching
/// and a cold buffer cache do not count.
const WARMUP_CALLS: u32 = 10;
/// Length of the QueryMetric window, in days.
const QUERY_DAYS: i64 = 30;
/// How many observations the ListObservations step pages through.
const LIST_ROWS: u64 = 1_000_000;
/// The page size of the ListObservations step (the API's largest).
const LIST_PAGE_SIZE: i32 = 1_000;
/// How long the service gets to apply migrations and answer SERVING.
const SERVICE_START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the service gets to drain and exit after SIGTERM.
const SERVICE_STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between two health checks while the service starts.
const HEALTH_POLL: Duration = Duration::from_millis(100);
/// The `source` of every benchmark observation.
const SOURCE: &str = "bench";
/// The networks accounts rotate through, so they look like a real inventory.
const NETWORKS: [Network; 11] = [
    Network::Facebook,
    Network::Instagram,
    Network::X,
    Network::Linkedin,
    Network::Tiktok,
    Network::Youtube,
    Network::Pinterest,
    Network::Snapchat,
    Network::Threads,
    Network::Reddit,
    Network::Other,
];

/// Any error, with the context that explains where it happened.
type BoxError = Box<dyn Error + Send + Sync>;
/// The result of everything fallible in this binary.
type Result<T, E = BoxError> = std::result::Result<T, E>;

/// An error wrapped with what was being done when it happened.
#[derive(Debug)]
struct ContextError {
    /// What was being done, such as "create account 3".
    context: String,
    /// What went wrong.
    source: BoxError,
}

impl fmt::Display for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.context, self.source)
    }
}

impl Error for ContextError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(self.source.as_ref())
    }
}

/// Adds context to the error of a `Result`, as `anyhow` would, in a few
/// lines instead of another dependency.
trait Context<T> {
    /// Wraps the error with a fixed message.
    fn context(self, context: &str) -> Result<T>;
    /// Wraps the error with a message built only when there is an error.
    fn with_context(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<BoxError>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: &str) -> Result<T> {
        self.with_context(|| context.to_owned())
    }

    fn with_context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| {
            Box::new(ContextError {
                context: context(),
                source: source.into(),
            }) as BoxError
        })
    }
}

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
}

/// Settings of `goalpost-bench ingest`.
#[derive(Debug, Args)]
struct IngestArgs {
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

    /// Timed QueryMetric calls per query (after 10 warm-up calls).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    query_iterations: u32,

    /// Keep the temporary directory (and a DATABASE_URL benchmark database)
    /// instead of removing it at the end.
    #[arg(long)]
    keep: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    let result = match cli.command {
        BenchCommand::Ingest(args) => ingest(args).await,
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

/// Progress lines go to stderr, so stdout holds only the report.
macro_rules! progress {
    ($($arg:tt)*) => { eprintln!("goalpost-bench: {}", format_args!($($arg)*)) };
}

/// Runs the whole ingest benchmark, cleaning up whatever it started even
/// when a step fails.
async fn ingest(args: IngestArgs) -> Result<()> {
    // Both checks come first: finding a missing tool after minutes of
    // loading would waste the run.
    let service_binary = service_binary()?;
    check_psql().await?;
    let work = WorkDir::create()?;
    let result = with_database(&args, &service_binary, &work.path).await;
    let removed = work.finish(args.keep);
    result.and(removed)
}

/// The `goalpost` binary built next to this one.
fn service_binary() -> Result<PathBuf> {
    let binary = std::env::current_exe()
        .context("find the path of goalpost-bench")?
        .with_file_name("goalpost");
    if !binary.is_file() {
        return Err(format!(
            "the service binary {} is missing: run `cargo build --release` first \
             (it builds goalpost and goalpost-bench together)",
            binary.display()
        )
        .into());
    }
    Ok(binary)
}

/// Fails early, with a hint, when psql cannot be run.
async fn check_psql() -> Result<()> {
    match Command::new("psql").arg("--version").output().await {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => Err(format!(
            "`psql --version` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )
        .into()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Err(
            "psql is not on PATH; the baseline needs it (Debian/Ubuntu: apt-get install postgresql-client)"
                .into(),
        ),
        Err(error) => Err(ContextError {
            context: "run `psql --version`".into(),
            source: error.into(),
        }
        .into()),
    }
}

/// A directory of our own for this run: the private PostgreSQL's data and
/// the COPY file.
struct WorkDir {
    /// The directory, under the system's temporary directory.
    path: PathBuf,
}

impl WorkDir {
    /// Creates a directory no other run uses (pid and time in its name).
    fn create() -> Result<WorkDir> {
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
    fn finish(self, keep: bool) -> Result<()> {
        if keep {
            progress!("kept {}", self.path.display());
            return Ok(());
        }
        std::fs::remove_dir_all(&self.path)
            .with_context(|| format!("remove the work directory {}", self.path.display()))
    }
}

/// Takes a database server, creates the benchmark database on it, runs the
/// benchmark, then stops the private server (or drops the database on a
/// `DATABASE_URL` server, unless `--keep`).
async fn with_database(args: &IngestArgs, service_binary: &Path, work_dir: &Path) -> Result<()> {
    let name = format!("goalpost_bench_{}", chrono::Utc::now().timestamp());
    let external = std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| !url.trim().is_empty());
    let (local, admin_url, database_url) = match external {
        Some(url) => {
            progress!("using the server of DATABASE_URL");
            let database_url = with_database_name(&url, &name)?;
            (None, url, database_url)
        }
        None => {
            let data_dir = work_dir.join("postgres");
            progress!("starting a private PostgreSQL in {}", data_dir.display());
            let local = LocalPostgres::start(LocalPostgresOptions {
                data_dir,
                // The real durability settings: the baseline and goalpost
                // must both pay for fsync, as they would in production.
                ephemeral: false,
            })
            .await
            .context(
                "start a private PostgreSQL (or set DATABASE_URL to use an existing server)",
            )?;
            let admin_url = local.database_url("postgres");
            let database_url = local.database_url(&name);
            (Some(local), admin_url, database_url)
        }
    };

    let result = match create_database(&admin_url, &name).await {
        Ok(()) => {
            progress!("created database {name}");
            with_service(args, service_binary, &database_url, work_dir).await
        }
        Err(error) => Err(error),
    };

    let cleaned = match local {
        Some(local) => {
            let stopped = local.stop().await.context("stop the private PostgreSQL");
            if args.keep {
                progress!(
                    "kept database {name} in the stopped private PostgreSQL under {}",
                    work_dir.join("postgres").display()
                );
            }
            stopped
        }
        None if args.keep => {
            progress!("kept database {name}");
            Ok(())
        }
        None => drop_database(&admin_url, &name).await,
    };
    result.and(cleaned)
}

/// `url` with its database replaced by `name`.
fn with_database_name(url: &str, name: &str) -> Result<String> {
    let mut parsed = url::Url::parse(url).context("DATABASE_URL is not a URL")?;
    parsed.set_path(name);
    Ok(parsed.into())
}

/// Creates the empty database `name` (the service migrates it).
async fn create_database(admin_url: &str, name: &str) -> Result<()> {
    let mut admin = PgConnection::connect(admin_url)
        .await
        .context("connect to PostgreSQL as admin")?;
    // `name` is ours (letters, digits and underscores), so formatting it
    // into the statement is safe.
    admin
        .execute(format!(r#"create database "{name}""#).as_str())
        .await
        .with_context(|| format!("create database {name}"))?;
    admin.close().await.context("disconnect the admin session")
}

/// Drops the benchmark database from a `DATABASE_URL` server, so runs do not
/// pile up millions of rows on someone's server.
async fn drop_database(admin_url: &str, name: &str) -> Result<()> {
    let mut admin = PgConnection::connect(admin_url)
        .await
        .context("connect to PostgreSQL as admin")?;
    admin
        .execute(format!(r#"drop database if exists "{name}""#).as_str())
        .await
        .with_context(|| format!("drop database {name}"))?;
    admin.close().await.context("disconnect the admin session")
}

/// Starts the service over the benchmark database, runs the benchmark
/// against it, and stops it whatever happened.
async fn with_service(
    args: &IngestArgs,
    service_binary: &Path,
    database_url: &str,
    work_dir: &Path,
) -> Result<()> {
    let service = Service::start(service_binary, database_url).await?;
    progress!(
        "goalpost serving on {} (pid {})",
        service.address,
        service.pid
    );
    let result = run(args, &service, database_url, work_dir).await;
    let stopped = service.stop().await;
    result.and(stopped)
}

/// The `goalpost serve` child process.
struct Service {
    /// The child, killed if dropped without [`Service::stop`] (on a panic).
    child: Child,
    /// Its pid, for SIGTERM and `/proc`.
    pid: Pid,
    /// Where it listens for gRPC.
    address: SocketAddr,
    /// A channel to it, shared by every client.
    channel: Channel,
}

impl Service {
    /// Spawns `goalpost serve` on a free loopback port and waits until its
    /// health check answers SERVING.
    async fn start(binary: &Path, database_url: &str) -> Result<Service> {
        let address = free_loopback_address()?;
        let mut child = Command::new(binary)
            .arg("serve")
            .arg("--listen")
            .arg(address.to_string())
            .arg("--database-url")
            .arg(database_url)
            // Per-request logging would cost the service time the baseline
            // does not pay; warnings still show up on our stderr. A
            // GOALPOST_LOG of the caller's wins, for profiling.
            .env(
                "GOALPOST_LOG",
                std::env::var("GOALPOST_LOG").unwrap_or_else(|_| "warn".to_owned()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {}", binary.display()))?;
        let raw_pid = child
            .id()
            .ok_or("the service exited before its pid could be read")?;
        let pid = Pid::from_raw(
            i32::try_from(raw_pid).with_context(|| format!("pid {raw_pid} out of range"))?,
        );
        let endpoint = Endpoint::from_shared(format!("http://{address}"))
            .context("build the service endpoint")?;

        let deadline = Instant::now() + SERVICE_START_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().context("check the service process")? {
                return Err(format!(
                    "goalpost serve exited with {status} before serving (its log is above)"
                )
                .into());
            }
            let last_state = match endpoint.connect().await {
                Ok(channel) => {
                    let check = HealthClient::new(channel.clone())
                        .check(HealthCheckRequest {
                            service: String::new(),
                        })
                        .await;
                    match check {
                        Ok(response) if response.get_ref().status() == ServingStatus::Serving => {
                            return Ok(Service {
                                child,
                                pid,
                                address,
                                channel,
                            });
                        }
                        Ok(response) => format!("health is {:?}", response.get_ref().status()),
                        Err(status) => format!("health check failed: {status}"),
                    }
                }
                Err(error) => format!("cannot connect: {error}"),
            };
            if Instant::now() >= deadline {
                let _ = child.kill().await;
                return Err(format!(
                    "goalpost serve was not SERVING after {} s ({last_state})",
                    SERVICE_START_TIMEOUT.as_secs()
                )
                .into());
            }
            sleep(HEALTH_POLL).await;
        }
    }

    /// The service's peak resident set size so far (`VmHWM`), in KiB.
    fn peak_rss_kib(&self) -> Result<u64> {
        let path = format!("/proc/{}/status", self.pid);
        let status = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.trim().strip_suffix("kB"))
            .and_then(|kib| kib.trim().parse().ok())
            .ok_or_else(|| format!("no VmHWM line in {path}").into())
    }

    /// SIGTERM, as a process manager would, then waits for the graceful
    /// shutdown; kills the service if it does not exit in time.
    async fn stop(mut self) -> Result<()> {
        // The child is not reaped before wait() below, so the pid is still
        // the service's.
        signal::kill(self.pid, Signal::SIGTERM).context("send SIGTERM to the service")?;
        match timeout(SERVICE_STOP_TIMEOUT, self.child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(format!("goalpost serve exited with {status} on SIGTERM").into()),
            Ok(Err(error)) => Err(ContextError {
                context: "wait for the service to exit".into(),
                source: error.into(),
            }
            .into()),
            Err(_) => {
                let _ = self.child.kill().await;
                Err(format!(
                    "goalpost serve did not exit within {} s of SIGTERM; killed it",
                    SERVICE_STOP_TIMEOUT.as_secs()
                )
                .into())
            }
        }
    }
}

/// A loopback address with a port that was free a moment ago. Another
/// process could take it before the service binds it; the health wait then
/// fails clearly, which is good enough for a benchmark.
fn free_loopback_address() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("find a free port")?;
    listener.local_addr().context("read the free port")
}

/// The benchmark proper, against a running service.
async fn run(
    args: &IngestArgs,
    service: &Service,
    database_url: &str,
    work_dir: &Path,
) -> Result<()> {
    let mut audits = AuditServiceClient::new(service.channel.clone());
    let mut metrics = MetricServiceClient::new(service.channel.clone())
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
        .max_decoding_message_size(MAX_MESSAGE_BYTES);
    let mut db = PgConnection::connect(database_url)
        .await
        .context("connect to the benchmark database")?;

    let accounts = usize::try_from(args.accounts).context("--accounts")?;
    let metric_count = usize::try_from(args.metrics).context("--metrics")?;
    progress!("creating {accounts} accounts");
    let account_names = create_accounts(&mut audits, accounts).await?;
    let base = list_definitions(&mut metrics, "kind = BASE").await?;
    if base.len() < metric_count {
        return Err(format!(
            "--metrics {metric_count} asks for more base metrics than the catalog has ({})",
            base.len()
        )
        .into());
    }
    let chosen: Vec<pb::MetricDefinition> = base.into_iter().take(metric_count).collect();
    let plan = Arc::new(Plan::new(
        accounts,
        &chosen,
        args.rows,
        chrono::Utc::now().timestamp_micros(),
    )?);
    let rows = plan.row_count();

    let chunk_size = usize::try_from(args.chunk_size).context("--chunk-size")?;
    progress!(
        "encoding {} rows as StreamObservations chunks of {chunk_size}",
        thousands(rows)
    );
    let chunks = encode_chunks(&plan, &account_names, chunk_size);
    let encoded_bytes: usize = chunks.iter().map(Bytes::len).sum();
    progress!("encoded {} MiB", encoded_bytes / (1024 * 1024));
    // Each timed load starts from a clean checkpoint, so neither pays for
    // flushing the other's dirty pages.
    checkpoint(&mut db).await;
    progress!("loading them through StreamObservations");
    let goalpost_load = stream_load(service.channel.clone(), chunks, rows).await?;
    let stored: i64 = sqlx::query_scalar("select count(*) from observation")
        .fetch_one(&mut db)
        .await
        .context("count the rows of observation")?;
    if u64::try_from(stored).ok() != Some(rows) {
        return Err(
            format!("observation holds {stored} rows after the load, expected {rows}").into(),
        );
    }
    let peak_rss_kib = service.peak_rss_kib()?;

    let copy_seconds = copy_baseline(&mut db, database_url, &plan, work_dir).await?;

    let goalpost_rate = rate(rows, goalpost_load.seconds);
    let copy_rate = rate(rows, copy_seconds);
    let ratio = goalpost_rate / copy_rate;
    let peak_rss_mib = peak_rss_kib as f64 / 1024.0;
    let server_version: String = sqlx::query_scalar("show server_version")
        .fetch_one(&mut db)
        .await
        .context("read the PostgreSQL version")?;
    println!("goalpost ingest benchmark");
    println!(
        "  machine                  {} cores, PostgreSQL {server_version}",
        std::thread::available_parallelism().map_or(0, |cores| cores.get())
    );
    println!(
        "  rows                     {} = {} accounts × {} metrics × {} points",
        thousands(rows),
        plan.accounts,
        plan.metrics.len(),
        plan.points
    );
    println!(
        "  goalpost                 {:>8.2} s  {:>10} rows/s  (StreamObservations, {} chunks of {})",
        goalpost_load.seconds,
        thousands(goalpost_rate.round() as u64),
        goalpost_load.chunks,
        chunk_size
    );
    println!(
        "  psql binary \\copy        {:>8.2} s  {:>10} rows/s  (bare table, same rows)",
        copy_seconds,
        thousands(copy_rate.round() as u64)
    );
    println!(
        "  ratio goalpost/psql      {ratio:>8.2}   (goal ≥ 0.5: {})",
        verdict(ratio >= 0.5)
    );
    println!(
        "  peak service RSS         {peak_rss_mib:>8.1} MiB (goal < 256: {})",
        verdict(peak_rss_mib < 256.0)
    );

    query_latencies(&mut metrics, &chosen, args.query_iterations).await?;
    list_page_times(&mut metrics, rows.min(LIST_ROWS)).await?;
    db.close()
        .await
        .context("disconnect from the benchmark database")
}

/// "met" or "missed", for the goals printed in the report.
fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "missed" }
}

/// Rows per second.
fn rate(rows: u64, seconds: f64) -> f64 {
    rows as f64 / seconds.max(f64::MIN_POSITIVE)
}

/// `n` with thin separators every three digits, such as `5,000,000`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Asks PostgreSQL for a checkpoint; a role without the right to (outside
/// superusers and pg_checkpoint) only makes the figures a little noisier, so
/// that is a note, not a failure.
async fn checkpoint(db: &mut PgConnection) {
    if let Err(error) = db.execute("checkpoint").await {
        progress!("note: no checkpoint before the timed load ({error})");
    }
}

/// Creates `count` accounts named `bench-{i}` on rotating networks and
/// returns their resource names, in order.
async fn create_accounts(
    audits: &mut AuditServiceClient<Channel>,
    count: usize,
) -> Result<Vec<String>> {
    let mut names = Vec::with_capacity(count);
    for i in 0..count {
        let account = audits
            .create_account(pb::CreateAccountRequest {
                account: Some(pb::Account {
                    network: NETWORKS[i % NETWORKS.len()] as i32,
                    handle: format!("bench-{i}"),
                    owner: "benchmark".into(),
                    purpose: "ingest benchmark".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .with_context(|| format!("CreateAccount bench-{i}"))?
            .into_inner();
        names.push(account.name);
    }
    Ok(names)
}

/// Every metric definition matching `filter`, ordered by key, following the
/// pages.
async fn list_definitions(
    metrics: &mut MetricServiceClient<Channel>,
    filter: &str,
) -> Result<Vec<pb::MetricDefinition>> {
    let mut definitions = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = metrics
            .list_metric_definitions(pb::ListMetricDefinitionsRequest {
                page_size: 1000,
                page_token,
                filter: filter.to_owned(),
            })
            .await
            .with_context(|| format!("ListMetricDefinitions with filter `{filter}`"))?
            .into_inner();
        definitions.extend(page.metric_definitions);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    // The API orders by key already; sorting again keeps the choice of
    // metrics stable even if that ever changed.
    definitions.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(definitions)
}

/// What the goalpost load measured.
struct StreamLoad {
    /// Seconds from the first chunk sent to the acknowledgement.
    seconds: f64,
    /// Chunks the service reported.
    chunks: i64,
}

/// Encodes every row of `plan` as StreamObservations chunks, before any
/// clock starts: the goalpost client then sends ready-made messages, as psql
/// reads a ready-made COPY file, so both rates measure loading, not the
/// generating and encoding of rows that a real client does on its own
/// machine.
fn encode_chunks(plan: &Arc<Plan>, account_names: &[String], chunk_size: usize) -> Vec<Bytes> {
    let mut rows = Rows::new(Arc::clone(plan));
    let mut chunks = Vec::new();
    loop {
        let observations: Vec<pb::Observation> = rows
            .by_ref()
            .take(chunk_size)
            .map(|row| pb::Observation {
                metric_key: plan.metrics[row.metric].key.clone(),
                account: account_names[row.account].clone(),
                observed_at: Some(timestamp(row.observed_at)),
                value: row.value,
                source: SOURCE.to_owned(),
                recorded_at: None,
            })
            .collect();
        if observations.is_empty() {
            return chunks;
        }
        chunks.push(
            pb::StreamObservationsRequest { observations }
                .encode_to_vec()
                .into(),
        );
    }
}

/// A codec whose messages are already encoded StreamObservationsRequest
/// chunks; the response is decoded by prost as usual.
#[derive(Debug, Default)]
struct PreEncodedCodec;

/// Writes a pre-encoded message as it is.
#[derive(Debug, Default)]
struct PreEncodedEncoder;

impl Encoder for PreEncodedEncoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Bytes,
        buf: &mut EncodeBuf<'_>,
    ) -> std::result::Result<(), tonic::Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl Codec for PreEncodedCodec {
    type Encode = Bytes;
    type Decode = pb::StreamObservationsResponse;
    type Encoder = PreEncodedEncoder;
    type Decoder = ProstDecoder<pb::StreamObservationsResponse>;

    fn encoder(&mut self) -> Self::Encoder {
        PreEncodedEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder::default()
    }
}

/// Sends pre-encoded chunks as one StreamObservations call and times it,
/// from the first chunk taken for sending to the acknowledgement (when the
/// service has committed them).
async fn stream_load(channel: Channel, chunks: Vec<Bytes>, expected: u64) -> Result<StreamLoad> {
    let mut grpc = tonic::client::Grpc::new(channel)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
        .max_decoding_message_size(MAX_MESSAGE_BYTES);
    grpc.ready()
        .await
        .map_err(|e| format!("connect to the service: {e}"))?;
    // The clock starts when tonic takes the first chunk to send it, not when
    // the call is made, so connection set-up does not count.
    let first_sent: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
    let marker = Arc::clone(&first_sent);
    let stream = tokio_stream::iter(chunks).map(move |chunk| {
        marker.get_or_init(Instant::now);
        chunk
    });
    let response = grpc
        .client_streaming(
            tonic::Request::new(stream),
            PathAndQuery::from_static("/goalpost.v1.MetricService/StreamObservations"),
            PreEncodedCodec,
        )
        .await;
    let acknowledged = Instant::now();
    let response = response.context("StreamObservations")?.into_inner();
    let started = first_sent
        .get()
        .copied()
        .ok_or("StreamObservations answered before any chunk was sent")?;
    if u64::try_from(response.observation_count).ok() != Some(expected) {
        return Err(format!(
            "StreamObservations stored {} observations, expected {expected}",
            response.observation_count
        )
        .into());
    }
    Ok(StreamLoad {
        seconds: (acknowledged - started).as_secs_f64(),
        chunks: response.chunk_count,
    })
}

/// A protobuf timestamp for Unix microseconds.
fn timestamp(unix_micros: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: unix_micros.div_euclid(1_000_000),
        // Below 1e9 by construction, so the cast cannot truncate.
        nanos: (unix_micros.rem_euclid(1_000_000) * 1_000) as i32,
    }
}

/// Loads the same rows with `psql \copy … (format binary)` into a bare table
/// and returns the seconds psql took.
async fn copy_baseline(
    db: &mut PgConnection,
    database_url: &str,
    plan: &Arc<Plan>,
    work_dir: &Path,
) -> Result<f64> {
    db.execute(
        "create table bench_bare_observation (
             series_id bigint not null,
             observed_at timestamptz not null,
             value double precision not null,
             source_id integer not null,
             recorded_at timestamptz not null default now(),
             primary key (series_id, observed_at)
         )",
    )
    .await
    .context("create table bench_bare_observation")?;

    let path = work_dir.join("observations.pgcopy");
    progress!("writing the binary COPY file {}", path.display());
    let bytes = {
        let plan = Arc::clone(plan);
        let target = path.clone();
        tokio::task::spawn_blocking(move || write_copy_file(&target, &plan))
            .await
            .context("the COPY file writer")?
            .with_context(|| format!("write {}", path.display()))?
    };
    progress!(
        "loading {} rows ({} MiB) with psql \\copy",
        thousands(plan.row_count()),
        bytes / (1024 * 1024)
    );

    checkpoint(db).await;
    let seconds = run_psql_copy(database_url, &path).await;
    let removed = std::fs::remove_file(&path).with_context(|| format!("remove {}", path.display()));
    let seconds = seconds?;
    removed?;

    let stored: i64 = sqlx::query_scalar("select count(*) from bench_bare_observation")
        .fetch_one(&mut *db)
        .await
        .context("count the rows of bench_bare_observation")?;
    if u64::try_from(stored).ok() != Some(plan.row_count()) {
        return Err(format!(
            "bench_bare_observation holds {stored} rows after \\copy, expected {}",
            plan.row_count()
        )
        .into());
    }
    Ok(seconds)
}

/// Writes every row of `plan` in PostgreSQL's binary COPY format, in the
/// column order of the `\copy` column list, and returns the file's size.
fn write_copy_file(path: &Path, plan: &Arc<Plan>) -> io::Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    // Signature, flags (no OIDs), header extension length.
    out.write_all(b"PGCOPY\n\xff\r\n\0")?;
    out.write_all(&0_i32.to_be_bytes())?;
    out.write_all(&0_i32.to_be_bytes())?;
    let mut bytes = 19;
    for row in Rows::new(Arc::clone(plan)) {
        // Field count, then each field as its length and big-endian bytes:
        // series_id int8, observed_at timestamptz (microseconds since
        // 2000-01-01 UTC), value float8, source_id int4.
        let series_id = i64::try_from(row.series + 1).map_err(io::Error::other)?;
        out.write_all(&4_i16.to_be_bytes())?;
        out.write_all(&8_i32.to_be_bytes())?;
        out.write_all(&series_id.to_be_bytes())?;
        out.write_all(&8_i32.to_be_bytes())?;
        out.write_all(&(row.observed_at - PG_EPOCH_MICROS).to_be_bytes())?;
        out.write_all(&8_i32.to_be_bytes())?;
        out.write_all(&row.value.to_be_bytes())?;
        out.write_all(&4_i32.to_be_bytes())?;
        out.write_all(&1_i32.to_be_bytes())?;
        bytes += 2 + 3 * (4 + 8) + 4 + 4;
    }
    out.write_all(&(-1_i16).to_be_bytes())?;
    out.flush()?;
    Ok(bytes + 2)
}

/// Runs `psql \copy` of the binary file into the bare table and returns how
/// long psql took, connection included (a few milliseconds).
async fn run_psql_copy(database_url: &str, path: &Path) -> Result<f64> {
    let (url, password) = split_password(database_url)?;
    let file = path
        .to_str()
        .ok_or_else(|| format!("{} is not UTF-8", path.display()))?
        .replace('\'', "''");
    let mut command = Command::new("psql");
    // -X: no ~/.psqlrc, so nothing of the user's set-up changes the figure.
    command.arg("-X").arg("-q").arg("-v").arg("ON_ERROR_STOP=1");
    command.arg("-c").arg(format!(
        "\\copy bench_bare_observation (series_id, observed_at, value, source_id) \
         from '{file}' with (format binary)"
    ));
    command.arg(url);
    // The password goes through the environment, not argv, where any user
    // of the machine could read it.
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    command.stdin(Stdio::null()).stdout(Stdio::null());
    let started = Instant::now();
    let output = command.output().await.context("run psql")?;
    let seconds = started.elapsed().as_secs_f64();
    if !output.status.success() {
        return Err(format!(
            "psql \\copy failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )
        .into());
    }
    Ok(seconds)
}

/// The URL without its password, and the password, decoded.
fn split_password(database_url: &str) -> Result<(String, Option<String>)> {
    let mut url = url::Url::parse(database_url).context("the database URL is not a URL")?;
    let password = url.password().map(percent_decode).transpose()?;
    if password.is_some() {
        url.set_password(None)
            .map_err(|()| "cannot remove the password from the database URL")?;
    }
    Ok((url.into(), password))
}

/// Decodes `%XX` escapes, as URL user info carries them.
fn percent_decode(text: &str) -> Result<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .ok_or("a truncated %-escape in the database URL")?;
            out.push(u8::from_str_radix(hex, 16).context("a bad %-escape in the database URL")?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).context("the database URL's password is not UTF-8")
}

/// One latency case: a metric and a window.
struct QueryCase {
    /// What the report calls it.
    label: String,
    /// The request, repeated unchanged.
    request: pb::QueryMetricRequest,
    /// How many buckets a correct answer has.
    buckets: usize,
}

/// Times QueryMetric over every account at this data size and prints one
/// line per case.
async fn query_latencies(
    metrics: &mut MetricServiceClient<Channel>,
    chosen: &[pb::MetricDefinition],
    iterations: u32,
) -> Result<()> {
    let sum_metric = chosen
        .iter()
        .find(|definition| definition.key == "impressions")
        .or_else(|| {
            chosen
                .iter()
                .find(|definition| definition.aggregation() == Aggregation::Sum)
        })
        .ok_or("none of the chosen metrics aggregates by SUM; use more --metrics")?;
    let derived = pick_derived(metrics, chosen).await?;

    let now = chrono::Utc::now().timestamp_micros();
    let midnight = now - now.rem_euclid(DAY_MICROS);
    let aligned = (midnight - QUERY_DAYS * DAY_MICROS, midnight);
    let unaligned = (now - QUERY_DAYS * DAY_MICROS, now);
    let mut cases = vec![
        query_case(&sum_metric.key, "UTC midnights", aligned),
        query_case(&sum_metric.key, "now − 30 days", unaligned),
    ];
    if let Some(derived) = &derived {
        cases.push(query_case(derived, "UTC midnights", aligned));
        cases.push(query_case(derived, "now − 30 days", unaligned));
    } else {
        progress!("note: no built-in derived metric has all its terms among the chosen metrics");
    }

    println!(
        "QueryMetric, {QUERY_DAYS} days in DAY buckets over every account, {iterations} calls after {WARMUP_CALLS} warm-ups (ms)"
    );
    for case in &cases {
        let mut samples = Vec::with_capacity(usize::try_from(iterations).unwrap_or(0));
        let mut with_data = 0;
        for call in 0..WARMUP_CALLS + iterations {
            let started = Instant::now();
            let response = metrics
                .query_metric(case.request.clone())
                .await
                .with_context(|| format!("QueryMetric {}", case.label))?
                .into_inner();
            let elapsed = started.elapsed();
            if response.buckets.len() != case.buckets {
                return Err(format!(
                    "QueryMetric {} returned {} buckets, expected {}",
                    case.label,
                    response.buckets.len(),
                    case.buckets
                )
                .into());
            }
            with_data = response
                .buckets
                .iter()
                .filter(|bucket| bucket.value.is_some())
                .count();
            if call >= WARMUP_CALLS {
                samples.push(elapsed);
            }
        }
        let stats = Latency::of(&mut samples);
        println!(
            "  {:<40} p50 {:>7.2}  p99 {:>7.2}  mean {:>7.2}  ({with_data}/{} buckets with data)",
            case.label, stats.p50_ms, stats.p99_ms, stats.mean_ms, case.buckets
        );
    }
    Ok(())
}

/// Pages through the first `rows` observations in list order and prints
/// the first and the last page's time, with the median and the slowest:
/// flat is the goal, each page reading about a page of rows wherever it
/// starts.
async fn list_page_times(metrics: &mut MetricServiceClient<Channel>, rows: u64) -> Result<()> {
    let pages = rows / LIST_PAGE_SIZE as u64;
    let mut times = Vec::with_capacity(usize::try_from(pages).unwrap_or(0));
    let mut page_token = String::new();
    for page in 0..pages {
        let started = Instant::now();
        let response = metrics
            .list_observations(pb::ListObservationsRequest {
                page_size: LIST_PAGE_SIZE,
                page_token: page_token.clone(),
                filter: String::new(),
            })
            .await
            .with_context(|| format!("ListObservations page {page}"))?
            .into_inner();
        times.push(started.elapsed());
        if response.observations.len() != LIST_PAGE_SIZE as usize {
            return Err(format!(
                "ListObservations page {page} held {} observations, expected {LIST_PAGE_SIZE}",
                response.observations.len()
            )
            .into());
        }
        page_token = response.next_page_token;
    }
    let ms = |duration: Option<&Duration>| duration.map_or(0.0, |d| d.as_secs_f64() * 1_000.0);
    let (first, last) = (ms(times.first()), ms(times.last()));
    let stats = Latency::of(&mut times);
    println!(
        "ListObservations, {} observations in {pages} pages of {LIST_PAGE_SIZE} (ms)",
        thousands(rows)
    );
    println!(
        "  first page {first:>7.2}  last page {last:>7.2}  p50 {:>7.2}  p99 {:>7.2}",
        stats.p50_ms, stats.p99_ms
    );
    Ok(())
}

/// A built-in derived metric whose terms were all loaded: engagement_rate
/// when possible (it mixes SUM terms with the LAST followers), else the
/// first by key.
async fn pick_derived(
    metrics: &mut MetricServiceClient<Channel>,
    chosen: &[pb::MetricDefinition],
) -> Result<Option<String>> {
    let derived = list_definitions(metrics, "kind = DERIVED").await?;
    let loaded = |key: &str| chosen.iter().any(|definition| definition.key == key);
    let candidates: Vec<&pb::MetricDefinition> = derived
        .iter()
        .filter(|definition| definition.builtin && definition.kind() == Kind::Derived)
        .filter(|definition| {
            definition.formula.as_ref().is_some_and(|formula| {
                formula
                    .numerator
                    .iter()
                    .chain(&formula.denominator)
                    .all(|term| loaded(&term.metric_key))
            })
        })
        .collect();
    Ok(candidates
        .iter()
        .find(|definition| definition.key == "engagement_rate")
        .or_else(|| candidates.first())
        .map(|definition| definition.key.clone()))
}

/// A DAY-bucketed query of `metric_key` over every account in
/// `[start, end)`.
fn query_case(metric_key: &str, window: &str, (start, end): (i64, i64)) -> QueryCase {
    // Days touched by [start, end): whole days, plus one for a partial day
    // at each edge not on a midnight (a 30-day window has at most 31).
    let first_day = start.div_euclid(DAY_MICROS);
    let last_day = (end - 1).div_euclid(DAY_MICROS);
    let buckets = usize::try_from(last_day - first_day + 1).unwrap_or(0);
    QueryCase {
        label: format!("{metric_key}, {window}"),
        request: pb::QueryMetricRequest {
            metric_key: metric_key.to_owned(),
            // Empty: every account and the organisation-wide series.
            accounts: Vec::new(),
            start: Some(timestamp(start)),
            end: Some(timestamp(end)),
            interval: pb::Interval::Day as i32,
        },
        buckets,
    }
}

/// Latency statistics of one case, in milliseconds.
struct Latency {
    /// The median.
    p50_ms: f64,
    /// The 99th percentile.
    p99_ms: f64,
    /// The arithmetic mean.
    mean_ms: f64,
}

impl Latency {
    /// Nearest-rank percentiles and the mean of `samples` (sorted in place).
    fn of(samples: &mut [Duration]) -> Latency {
        samples.sort_unstable();
        let ms = |duration: Duration| duration.as_secs_f64() * 1_000.0;
        let percentile = |p: f64| {
            let rank = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len().max(1));
            samples.get(rank - 1).copied().map_or(0.0, ms)
        };
        let total: f64 = samples.iter().copied().map(ms).sum();
        Latency {
            p50_ms: percentile(0.50),
            p99_ms: percentile(0.99),
            mean_ms: total / samples.len().max(1) as f64,
        }
    }
}

/// How the values of one metric behave over time, so the data looks like a
/// real insights export rather than noise.
#[derive(Debug, Clone, Copy)]
enum Profile {
    /// A count per 6-hour period (impressions, likes…): each series has its
    /// own typical level between `low` and `high`, busier in the afternoon
    /// (UTC) than at night and on weekdays than at weekends.
    Count {
        /// The smallest typical level of a series.
        low: f64,
        /// The largest typical level of a series.
        high: f64,
    },
    /// Money per period, like [`Profile::Count`] but in cents.
    Money {
        /// The smallest typical level of a series.
        low: f64,
        /// The largest typical level of a series.
        high: f64,
    },
    /// A level that grows slowly with small setbacks (followers), rounded
    /// to whole units.
    Level {
        /// The smallest starting level of a series.
        low: f64,
        /// The largest starting level of a series.
        high: f64,
        /// The largest mean relative growth per step of a series.
        growth: f64,
    },
    /// A reading around a steady level (custom AVG, MIN or MAX metrics).
    Gauge {
        /// The smallest level of a series.
        low: f64,
        /// The largest level of a series.
        high: f64,
    },
}

impl Profile {
    /// The profile of a catalog metric: by key for the built-in ones, by
    /// aggregation for custom ones.
    fn of(definition: &pb::MetricDefinition) -> Profile {
        let count = |low, high| Profile::Count { low, high };
        match definition.key.as_str() {
            "impressions" => count(2_000.0, 200_000.0),
            "reach" => count(1_000.0, 80_000.0),
            "mentions" => count(5.0, 300.0),
            "competitor_mentions" => count(5.0, 400.0),
            "positive_mentions" => count(2.0, 150.0),
            "negative_mentions" => count(0.5, 40.0),
            "shares" => count(5.0, 800.0),
            "likes" => count(50.0, 8_000.0),
            "comments" => count(5.0, 600.0),
            "clicks" => count(20.0, 3_000.0),
            "sessions" => count(15.0, 2_500.0),
            "bounces" => count(5.0, 1_200.0),
            "conversions" => count(0.5, 60.0),
            "leads" => count(0.2, 30.0),
            "applications" => count(0.1, 10.0),
            "new_followers" => count(2.0, 400.0),
            "promoters" => count(0.5, 20.0),
            "detractors" => count(0.2, 8.0),
            "nps_responses" => count(2.0, 40.0),
            "csat_satisfied" => count(1.0, 30.0),
            "csat_responses" => count(2.0, 40.0),
            "service_requests_resolved" => count(0.5, 60.0),
            "ad_spend" => Profile::Money {
                low: 5.0,
                high: 2_000.0,
            },
            "followers" => Profile::Level {
                low: 500.0,
                high: 500_000.0,
                growth: 0.003,
            },
            "service_reps" => Profile::Level {
                low: 1.0,
                high: 25.0,
                growth: 0.000_5,
            },
            _ => match definition.aggregation() {
                Aggregation::Last => Profile::Level {
                    low: 10.0,
                    high: 10_000.0,
                    growth: 0.002,
                },
                Aggregation::Avg | Aggregation::Min | Aggregation::Max => Profile::Gauge {
                    low: 1.0,
                    high: 100.0,
                },
                Aggregation::Sum | Aggregation::Unspecified => count(1.0, 1_000.0),
            },
        }
    }
}

/// What to load: the series and their points.
struct Plan {
    /// How many accounts each metric is observed on.
    accounts: usize,
    /// The metrics observed, in catalog order.
    metrics: Vec<MetricPlan>,
    /// Observations per series.
    points: usize,
    /// The newest point of every series before its own offset, in Unix
    /// microseconds, on a whole minute.
    newest_micros: i64,
}

/// One metric of the plan.
struct MetricPlan {
    /// The metric's key.
    key: String,
    /// How its values behave.
    profile: Profile,
}

impl Plan {
    /// A plan of about `rows` rows over `accounts` × the `metrics`, ending
    /// about an hour before `now_micros`.
    fn new(
        accounts: usize,
        metrics: &[pb::MetricDefinition],
        rows: u64,
        now_micros: i64,
    ) -> Result<Plan> {
        let series = u64::try_from(accounts * metrics.len()).context("too many series")?;
        // Every series gets the same number of points, so N is rounded to
        // the nearest multiple of the series count (at least one point).
        let points = ((rows + series / 2) / series).max(1);
        let newest = now_micros - NEWEST_AGE_MICROS;
        Ok(Plan {
            accounts,
            metrics: metrics
                .iter()
                .map(|definition| MetricPlan {
                    key: definition.key.clone(),
                    profile: Profile::of(definition),
                })
                .collect(),
            points: usize::try_from(points).context("too many points per series")?,
            newest_micros: newest - newest.rem_euclid(MINUTE_MICROS),
        })
    }

    /// How many series the plan has.
    fn series_count(&self) -> usize {
        self.accounts * self.metrics.len()
    }

    /// How many rows the plan loads.
    fn row_count(&self) -> u64 {
        (self.series_count() * self.points) as u64
    }
}

/// One generated observation.
struct Row {
    /// The series' index: `metric * accounts + account` (so the bare table's
    /// series_id is this plus one).
    series: usize,
    /// The index of the metric in the plan.
    metric: usize,
    /// The index of the account.
    account: usize,
    /// When, in Unix microseconds.
    observed_at: i64,
    /// The value.
    value: f64,
}

/// The rows of a plan, generated lazily: series after series (metric, then
/// account), each in time order. Two iterations of one plan yield exactly
/// the same rows.
struct Rows {
    /// The plan being generated.
    plan: Arc<Plan>,
    /// The current series.
    series: usize,
    /// The next point of the current series.
    point: usize,
    /// The current series' random state; built on its first point.
    state: Option<SeriesState>,
}

impl Rows {
    /// The rows of `plan` from the start.
    fn new(plan: Arc<Plan>) -> Rows {
        Rows {
            plan,
            series: 0,
            point: 0,
            state: None,
        }
    }
}

impl Iterator for Rows {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        loop {
            if self.series >= self.plan.series_count() {
                return None;
            }
            if self.point < self.plan.points {
                let metric = self.series / self.plan.accounts;
                let profile = self.plan.metrics[metric].profile;
                let state = self
                    .state
                    .get_or_insert_with(|| SeriesState::new(&self.plan, self.series, profile));
                let observed_at = state.first_micros + self.point as i64 * STEP_MICROS;
                let value = state.next_value(profile, observed_at);
                self.point += 1;
                return Some(Row {
                    series: self.series,
                    metric,
                    account: self.series % self.plan.accounts,
                    observed_at,
                    value,
                });
            }
            self.series += 1;
            self.point = 0;
            self.state = None;
        }
    }
}

/// The state of one series while its points are generated.
struct SeriesState {
    /// Seeded from the series index alone, so a series' values do not
    /// depend on how many series come before it.
    rng: Rng,
    /// The time of its first point, in Unix microseconds.
    first_micros: i64,
    /// Its typical level (counts, money, gauges) or current level (levels).
    level: f64,
    /// Its mean relative growth per step (levels only).
    growth: f64,
}

impl SeriesState {
    /// The state of series `series` of `plan`, before its first point.
    fn new(plan: &Plan, series: usize, profile: Profile) -> SeriesState {
        let mut rng =
            Rng::with_seed(SEED ^ (series as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        // Its own minute within the 6-hour step, as collectors do not all
        // run at the same instant.
        let offset = rng.i64(0..6 * 60) * MINUTE_MICROS;
        let first_micros = plan.newest_micros - offset - (plan.points as i64 - 1) * STEP_MICROS;
        let (level, growth) = match profile {
            Profile::Count { low, high }
            | Profile::Money { low, high }
            | Profile::Gauge { low, high } => (log_uniform(&mut rng, low, high), 0.0),
            Profile::Level { low, high, growth } => {
                (log_uniform(&mut rng, low, high), growth * rng.f64())
            }
        };
        SeriesState {
            rng,
            first_micros,
            level,
            growth,
        }
    }

    /// The value of the next point, observed at `at` (Unix microseconds).
    fn next_value(&mut self, profile: Profile, at: i64) -> f64 {
        match profile {
            Profile::Count { .. } => (self.level * activity(at) * self.noise()).round(),
            Profile::Money { .. } => {
                (self.level * activity(at) * self.noise() * 100.0).round() / 100.0
            }
            Profile::Level { .. } => {
                // Mostly up, sometimes a little down (unfollows).
                self.level *= 1.0 + self.growth * (1.5 * self.rng.f64() - 0.25);
                self.level.round().max(0.0)
            }
            Profile::Gauge { .. } => {
                (self.level * (0.9 + 0.2 * self.rng.f64()) * 100.0).round() / 100.0
            }
        }
    }

    /// A factor of 0.75 to 1.25, the period-to-period scatter of counts.
    fn noise(&mut self) -> f64 {
        0.75 + 0.5 * self.rng.f64()
    }
}

/// A value between `low` and `high`, uniform in log scale, so small accounts
/// are as common as big ones are rare.
fn log_uniform(rng: &mut Rng, low: f64, high: f64) -> f64 {
    low * (high / low).powf(rng.f64())
}

/// How busy social networks are at `at` (Unix microseconds), relative to
/// the average: a daily wave peaking mid-afternoon UTC and a quieter
/// weekend.
fn activity(at: i64) -> f64 {
    let hour = at.rem_euclid(DAY_MICROS) as f64 / 3_600e6;
    let daily = 1.0 + 0.5 * (std::f64::consts::TAU * (hour - 9.0) / 24.0).sin();
    // 1970-01-01 was a Thursday, so day + 4 counts from a Sunday.
    let weekday = (at.div_euclid(DAY_MICROS) + 4).rem_euclid(7);
    let weekly = if weekday == 0 || weekday == 6 {
        0.75
    } else {
        1.0
    };
    daily * weekly
}
