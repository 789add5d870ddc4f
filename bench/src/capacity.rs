//! `goalpost-bench resilience`, part two: unary read load held, against
//! this machine's ceilings.
//!
//! h2load (from nghttp2, a real HTTP/2 load generator) sends GetGoal and
//! GetGoalProgress at increasing concurrency (`--clients`), each level for
//! `--load-seconds` after a second of warm-up. In the same run the two
//! ceilings of the machine are measured at the same client counts: the
//! health check's rate (tonic and HTTP/2 alone, no database) and `pgbench
//! -S` (PostgreSQL's own point read, no gRPC). Latency percentiles come
//! from h2load's per-request log. h2load counts an HTTP 200 as a success
//! even when the gRPC status is an error, so before each level one call of
//! the same request is checked through tonic, and the failures counted are
//! the service's own count of non-OK answers to the method (its Prometheus
//! endpoint), read before and after each level.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use goalpost::pb;
use goalpost::pb::goal_service_client::GoalServiceClient;
use goalpost::pb::metric_service_client::MetricServiceClient;
use goalpost::pb::progress_service_client::ProgressServiceClient;
use prost::Message;
use sqlx::{Connection, Executor, PgConnection};
use tokio::process::Command;
use tonic::transport::Channel;

use crate::database::with_database_name;
use crate::dataset::timestamp;
use crate::error::{Context, Result};
use crate::report::thousands;

/// One level's figures.
#[derive(Debug, Clone, Copy, Default)]
struct Rate {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    failed: u64,
}

/// A method under load: its path and its request, framed for gRPC.
struct Target {
    label: &'static str,
    path: String,
    body: PathBuf,
}

impl Target {
    /// The method's name as the service's metrics label it.
    fn method(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or_default()
    }
}

/// The service's count of answers to `method` other than OK, from its
/// Prometheus endpoint. CANCELLED does not count: h2load closes its
/// connections when its time is up, cancelling the calls then in flight.
async fn failed_answers(metrics: std::net::SocketAddr, method: &str) -> Result<u64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(metrics)
        .await
        .context("connect to the service's metrics endpoint")?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: goalpost\r\nConnection: close\r\n\r\n")
        .await
        .context("ask for the metrics")?;
    let mut text = String::new();
    stream
        .read_to_string(&mut text)
        .await
        .context("read the metrics")?;
    let method_label = format!("method=\"{method}\"");
    Ok(text
        .lines()
        .filter(|line| {
            line.starts_with("goalpost_grpc_requests_total{")
                && line.contains(&method_label)
                && !line.contains("code=\"OK\"")
                && !line.contains("code=\"CANCELLED\"")
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64)
}

/// Checks that h2load and pgbench are installed, before any set-up.
pub async fn check_tools() -> Result<()> {
    for (tool, package) in [
        ("h2load", "nghttp2-client"),
        ("pgbench", "postgresql-client"),
    ] {
        let found = Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .is_ok_and(|status| status.success());
        if !found {
            return Err(format!(
                "{tool} is missing: install it (apt-get install {package}) or run with --skip-load"
            )
            .into());
        }
    }
    Ok(())
}

/// Runs the load levels and prints the table.
pub async fn run(
    service: &crate::service::Service,
    accounts: &[String],
    admin_url: &str,
    work_dir: &Path,
    clients: &[u32],
    seconds: u32,
) -> Result<()> {
    let (channel, address, metrics) = (&service.channel, service.address, service.metrics_address);
    write_recent_likes(channel, accounts).await?;
    let goal = crate::watch::create_goal(channel).await?;
    // Checked once through tonic: h2load would count an error as a success.
    GoalServiceClient::new(channel.clone())
        .get_goal(pb::GetGoalRequest { name: goal.clone() })
        .await
        .context("GetGoal before the load")?;
    ProgressServiceClient::new(channel.clone())
        .get_goal_progress(pb::GetGoalProgressRequest {
            goal: goal.clone(),
            as_of: None,
        })
        .await
        .context("GetGoalProgress before the load")?;
    let targets = [
        target(
            work_dir,
            "health check (ceiling)",
            "/grpc.health.v1.Health/Check",
            &tonic_health::pb::HealthCheckRequest::default(),
        )?,
        target(
            work_dir,
            "GetGoal",
            "/goalpost.v1.GoalService/GetGoal",
            &pb::GetGoalRequest { name: goal.clone() },
        )?,
        target(
            work_dir,
            "GetGoalProgress",
            "/goalpost.v1.ProgressService/GetGoalProgress",
            &pb::GetGoalProgressRequest { goal, as_of: None },
        )?,
    ];
    let pgbench_db = prepare_pgbench(admin_url).await?;

    println!("unary read load (h2load, {seconds} s a level after 1 s of warm-up; ms)");
    println!(
        "  {:<26} {:>7} {:>10} {:>8} {:>8} {:>7}",
        "", "clients", "req/s", "p50", "p99", "failed"
    );
    for &clients in clients {
        let mut rates = Vec::new();
        for target in &targets {
            let failed_before = failed_answers(metrics, target.method()).await?;
            let mut rate = h2load(address, target, clients, seconds, work_dir).await?;
            rate.failed += failed_answers(metrics, target.method())
                .await?
                .saturating_sub(failed_before);
            print_rate(target.label, clients, &rate);
            rates.push(rate);
        }
        let pgbench = pgbench_select(&pgbench_db, clients, seconds).await?;
        print_rate("pgbench -S (ceiling)", clients, &pgbench);
        let ceiling = rates[0].per_second.min(pgbench.per_second);
        println!(
            "  {:<26} {:>7} GetGoal {:.2} × the lower ceiling (goal ≥ 0.5: {}), GetGoalProgress {:.2}×",
            "",
            clients,
            rates[1].per_second / ceiling,
            crate::report::verdict(rates[1].per_second >= 0.5 * ceiling),
            rates[2].per_second / ceiling
        );
    }
    drop_pgbench(admin_url).await
}

fn print_rate(label: &str, clients: u32, rate: &Rate) {
    println!(
        "  {label:<26} {clients:>7} {:>10} {:>8.2} {:>8.2} {:>7}",
        thousands(rate.per_second.round() as u64),
        rate.p50_ms,
        rate.p99_ms,
        rate.failed
    );
}

/// Writes a request framed as gRPC (a zero flag byte, the length, the
/// message) to a file for h2load's `-d`.
fn target(
    work_dir: &Path,
    label: &'static str,
    path: &str,
    message: &impl Message,
) -> Result<Target> {
    let encoded = message.encode_to_vec();
    let mut framed = Vec::with_capacity(encoded.len() + 5);
    framed.push(0);
    framed.extend_from_slice(
        &u32::try_from(encoded.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    framed.extend_from_slice(&encoded);
    let body = work_dir.join(format!("{}.grpc", path.replace('/', "_")));
    std::fs::write(&body, framed).with_context(|| format!("write {}", body.display()))?;
    Ok(Target {
        label,
        path: path.to_owned(),
        body,
    })
}

/// Thirty days of likes on every account, ending now, so the goal's 7-day
/// window has data to read.
async fn write_recent_likes(channel: &Channel, accounts: &[String]) -> Result<()> {
    let mut metrics = MetricServiceClient::new(channel.clone());
    let now = chrono::Utc::now().timestamp_micros();
    let hour = 3_600_000_000;
    let observations: Vec<pb::Observation> = (0..30 * 24)
        .flat_map(|step| {
            accounts.iter().map(move |account| pb::Observation {
                metric_key: "likes".into(),
                account: account.clone(),
                observed_at: Some(timestamp(now - step * hour)),
                value: 1.0,
                ..Default::default()
            })
        })
        .collect();
    for batch in observations.chunks(5_000) {
        metrics
            .write_observations(pb::WriteObservationsRequest {
                observations: batch.to_vec(),
            })
            .await
            .context("WriteObservations of recent likes")?;
    }
    Ok(())
}

/// One h2load run of `seconds` at `clients` connections, one stream each.
async fn h2load(
    address: std::net::SocketAddr,
    target: &Target,
    clients: u32,
    seconds: u32,
    work_dir: &Path,
) -> Result<Rate> {
    let log = work_dir.join("h2load.log");
    let _ = std::fs::remove_file(&log);
    let mut command = Command::new("h2load");
    command
        .args([
            "-c",
            &clients.to_string(),
            "-m",
            "1",
            "-t",
            &clients.min(2).to_string(),
        ])
        .args(["-D", &seconds.to_string(), "--warm-up-time", "1"])
        .args(["-H", "content-type: application/grpc", "-H", "te: trailers"])
        .arg("-d")
        .arg(&target.body)
        .arg("--log-file")
        .arg(&log)
        .arg(format!("http://{address}{}", target.path));
    let text = run_tool(command, "h2load").await?;
    let failed = field(&text, "failed").unwrap_or(0.0) as u64;
    let mut micros: Vec<u64> = std::fs::read_to_string(&log)
        .with_context(|| format!("read {}", log.display()))?
        .lines()
        .filter_map(|line| line.split('\t').nth(2)?.trim().parse().ok())
        .collect();
    micros.sort_unstable();
    let at = |fraction: f64| -> f64 {
        if micros.is_empty() {
            return 0.0;
        }
        let index = ((micros.len() as f64 - 1.0) * fraction).round() as usize;
        micros[index] as f64 / 1000.0
    };
    Ok(Rate {
        per_second: micros.len() as f64 / f64::from(seconds),
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        failed,
    })
}

/// The number after `label` in h2load's report, up to `end`.
fn number_after(text: &str, label: &str, end: &str) -> Option<f64> {
    let start = text.find(label)? + label.len();
    let rest = &text[start..];
    let stop = rest.find(end).unwrap_or(rest.len());
    rest[..stop].split_whitespace().next()?.parse().ok()
}

/// The count before `name` on h2load's "requests:" line ("… 3 failed, …").
fn field(text: &str, name: &str) -> Option<f64> {
    let line = text
        .lines()
        .find(|line| line.trim_start().starts_with("requests:"))?;
    line.split(',')
        .find(|part| part.trim().ends_with(name))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The database `pgbench -S` reads: `pgbench -i` at scale 10 (a million
/// accounts), beside the benchmark database on the same server.
async fn prepare_pgbench(admin_url: &str) -> Result<String> {
    let url = with_database_name(admin_url, PGBENCH_DATABASE)?;
    as_admin(
        admin_url,
        &[
            &format!("drop database if exists {PGBENCH_DATABASE}"),
            &format!("create database {PGBENCH_DATABASE}"),
        ],
    )
    .await?;
    let mut command = Command::new("pgbench");
    command.args(["-i", "-q", "-s", "10"]).arg(&url);
    run_tool(command, "pgbench -i").await?;
    Ok(url)
}

async fn drop_pgbench(admin_url: &str) -> Result<()> {
    as_admin(
        admin_url,
        &[&format!("drop database if exists {PGBENCH_DATABASE}")],
    )
    .await
}

/// The database `pgbench -S` reads.
const PGBENCH_DATABASE: &str = "goalpost_bench_pgbench";

/// Runs `statements` in turn as the server's admin.
async fn as_admin(admin_url: &str, statements: &[&str]) -> Result<()> {
    let mut admin = PgConnection::connect(admin_url)
        .await
        .context("connect as admin")?;
    for statement in statements {
        admin
            .execute(*statement)
            .await
            .with_context(|| format!("run `{statement}`"))?;
    }
    admin.close().await.context("disconnect the admin session")
}

/// Runs a load tool to its end; its standard output, or an error holding
/// everything it printed when it failed.
async fn run_tool(mut command: Command, what: &str) -> Result<String> {
    let output = command
        .output()
        .await
        .with_context(|| format!("run {what}"))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        return Err(format!(
            "{what} failed: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(text)
}

/// `pgbench -S` (select-only, prepared) at `clients` connections.
async fn pgbench_select(url: &str, clients: u32, seconds: u32) -> Result<Rate> {
    let mut command = Command::new("pgbench");
    command
        .args(["-S", "-M", "prepared", "-n"])
        .args([
            "-c",
            &clients.to_string(),
            "-j",
            &clients.min(2).to_string(),
        ])
        .args(["-T", &seconds.to_string()])
        .arg(url);
    let text = run_tool(command, "pgbench -S").await?;
    let per_second = number_after(&text, "tps = ", "(").unwrap_or(0.0);
    let mean_ms = number_after(&text, "latency average = ", "ms").unwrap_or(0.0);
    Ok(Rate {
        per_second,
        // pgbench reports the mean latency only: shown as p50.
        p50_ms: mean_ms,
        p99_ms: f64::NAN,
        failed: 0,
    })
}
