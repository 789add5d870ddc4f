//! The `goalpost serve` child process the benchmarks run against: found next
//! to this binary, started on a free loopback port, polled until its health
//! check answers SERVING, and stopped with SIGTERM as a process manager
//! would.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep, timeout};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::error::{Context, ContextError, Result};

/// The largest message goalpost accepts (and the proto documents); the
/// client's limits are raised to it, tonic's 4 MiB default being smaller.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// How long the service gets to apply migrations and answer SERVING.
const SERVICE_START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the service gets to drain and exit after SIGTERM.
const SERVICE_STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between two health checks while the service starts.
const HEALTH_POLL: Duration = Duration::from_millis(100);

/// The `goalpost` binary built next to this one.
pub fn service_binary() -> Result<PathBuf> {
    let binary = std::env::current_exe()
        .context("find the path of goalpost-bench")?
        .with_file_name("goalpost");
    if !binary.is_file() {
        return Err(format!(
            "the service binary {} is missing: run `cargo build --release --workspace` first \
             (it builds goalpost and goalpost-bench together)",
            binary.display()
        )
        .into());
    }
    Ok(binary)
}

/// The `goalpost serve` child process.
pub struct Service {
    /// The child, killed if dropped without [`Service::stop`] (on a panic).
    child: Child,
    /// Its pid, for SIGTERM and `/proc`.
    pub pid: Pid,
    /// Where it listens for gRPC.
    pub address: SocketAddr,
    /// Where it serves Prometheus metrics.
    pub metrics_address: SocketAddr,
    /// A channel to it, shared by every client.
    pub channel: Channel,
}

impl Service {
    /// Spawns `goalpost serve` on a free loopback port and waits until its
    /// health check answers SERVING.
    pub async fn start(binary: &Path, database_url: &str) -> Result<Service> {
        let address = free_loopback_address()?;
        let metrics_address = free_loopback_address()?;
        let mut child = Command::new(binary)
            .arg("serve")
            .arg("--listen")
            .arg(address.to_string())
            // The service's own count of answers by code: a load generator
            // that sees only HTTP cannot tell a gRPC error from a success.
            .arg("--metrics-addr")
            .arg(metrics_address.to_string())
            .arg("--database-url")
            .arg(database_url)
            // Catching up on the daily snapshots of a thousand new goals
            // would run beside the timed calls.
            .arg("--no-snapshots")
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
                                metrics_address,
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
    pub fn peak_rss_kib(&self) -> Result<u64> {
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
    pub async fn stop(mut self) -> Result<()> {
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
