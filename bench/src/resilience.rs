//! `goalpost-bench resilience`, part one: no acknowledged write is lost
//! while PostgreSQL is killed and restarted again and again.
//!
//! Batch writers (WriteObservations) and stream writers (StreamObservations,
//! several chunks a stream) write without pause for `--seconds`, while the
//! private PostgreSQL's postmaster is killed with SIGKILL every
//! `--kill-every-secs` (its supervisor in this process starts it again,
//! with crash recovery). Each write carries rows no other write has, all
//! with the write's number as their value, and each writer keeps only what
//! the service answered: acknowledged or failed. At the end the benchmark
//! counts, with SQL, each write's rows: an acknowledged write missing rows
//! lost them; a failed write stored in part left a partial write (stored
//! whole is fine: it committed and only its answer was lost).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use goalpost::db::local::LocalPostgres;
use goalpost::pb;
use goalpost::pb::audit_service_client::AuditServiceClient;
use goalpost::pb::metric_service_client::MetricServiceClient;
use nix::sys::signal::{Signal, kill};
use sqlx::{Connection, PgConnection};
use tokio::time::Instant;
use tonic::transport::Channel;

use crate::ResilienceArgs;
use crate::dataset::timestamp;
use crate::error::{Context, Result};
use crate::load::create_accounts;
use crate::report::thousands;

/// The first observation time of the run; every row is a microsecond apart
/// from the others.
const BASE_MICROS: i64 = 1_735_689_600_000_000; // 2025-01-01T00:00:00Z
/// Room for one write's rows in the time line.
const ROWS_PER_WRITE_MAX: i64 = 1_000_000;
/// A write's own deadline, so a write stuck in an outage ends.
const WRITE_DEADLINE: Duration = Duration::from_secs(10);
/// The pause after a write the service refused, before the next.
const BACKOFF: Duration = Duration::from_millis(100);

/// One write and what its writer was told.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    write: u64,
    rows: u64,
    acknowledged: bool,
}

/// The shape of the writes.
#[derive(Debug, Clone, Copy)]
struct Shape {
    batch_rows: u64,
    stream_chunks: u64,
    chunk_rows: u64,
}

/// What part one measured.
pub struct WriteLoss {
    seconds: f64,
    kills: u32,
    outcomes: Vec<Outcome>,
    stored: HashMap<u64, u64>,
}

/// Runs the writers and the killer, then counts what is stored.
pub async fn run(
    args: &ResilienceArgs,
    channel: &Channel,
    database_url: &str,
    postgres: &LocalPostgres,
) -> Result<WriteLoss> {
    let mut audits = AuditServiceClient::new(channel.clone());
    let accounts = Arc::new(create_accounts(&mut audits, args.accounts as usize).await?);
    let shape = Shape {
        batch_rows: u64::from(args.batch),
        stream_chunks: u64::from(args.stream_chunks),
        chunk_rows: u64::from(args.batch),
    };
    let next_write = Arc::new(AtomicU64::new(1));
    let until = Instant::now() + Duration::from_secs(u64::from(args.seconds));
    let started = Instant::now();
    let mut writers = Vec::new();
    for writer in 0..args.batch_writers + args.stream_writers {
        let streaming = writer >= args.batch_writers;
        let metrics = MetricServiceClient::new(channel.clone())
            .max_encoding_message_size(crate::service::MAX_MESSAGE_BYTES);
        let (accounts, next_write) = (accounts.clone(), next_write.clone());
        writers.push(tokio::spawn(async move {
            write_until(metrics, &accounts, &next_write, shape, streaming, until).await
        }));
    }
    let kills = kill_repeatedly(postgres, args.kill_every_secs, until).await;
    let mut outcomes = Vec::new();
    for writer in writers {
        outcomes.extend(writer.await.context("a writer task")?);
    }
    let seconds = started.elapsed().as_secs_f64();
    progress!("{kills} kills done; counting what is stored");
    let stored = stored_rows(database_url).await?;
    Ok(WriteLoss {
        seconds,
        kills,
        outcomes,
        stored,
    })
}

/// One writer: writes (batches, or streams of chunks) one after another
/// until `until`, keeping what each was answered.
async fn write_until(
    mut metrics: MetricServiceClient<Channel>,
    accounts: &[String],
    next_write: &AtomicU64,
    shape: Shape,
    streaming: bool,
    until: Instant,
) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    while Instant::now() < until {
        let write = next_write.fetch_add(1, Ordering::Relaxed);
        let (rows, answer) = if streaming {
            let rows = shape.stream_chunks * shape.chunk_rows;
            let chunks: Vec<pb::StreamObservationsRequest> = (0..shape.stream_chunks)
                .map(|chunk| pb::StreamObservationsRequest {
                    observations: observations(
                        accounts,
                        write,
                        chunk * shape.chunk_rows,
                        shape.chunk_rows,
                    ),
                })
                .collect();
            let mut request = tonic::Request::new(tokio_stream::iter(chunks));
            request.set_timeout(WRITE_DEADLINE);
            (rows, metrics.stream_observations(request).await.map(|_| ()))
        } else {
            let rows = shape.batch_rows;
            let mut request = tonic::Request::new(pb::WriteObservationsRequest {
                observations: observations(accounts, write, 0, rows),
            });
            request.set_timeout(WRITE_DEADLINE);
            (rows, metrics.write_observations(request).await.map(|_| ()))
        };
        let acknowledged = answer.is_ok();
        outcomes.push(Outcome {
            write,
            rows,
            acknowledged,
        });
        if !acknowledged {
            tokio::time::sleep(BACKOFF).await;
        }
    }
    outcomes
}

/// Rows `first..first + count` of write `write`: likes spread over the
/// accounts, each at its own microsecond, valued at the write's number.
fn observations(accounts: &[String], write: u64, first: u64, count: u64) -> Vec<pb::Observation> {
    (first..first + count)
        .map(|row| {
            let offset = i64::try_from(write).unwrap_or(i64::MAX / 2) * ROWS_PER_WRITE_MAX
                + i64::try_from(row).unwrap_or(0);
            pb::Observation {
                metric_key: "likes".into(),
                account: accounts[row as usize % accounts.len()].clone(),
                observed_at: Some(timestamp(BASE_MICROS + offset)),
                value: write as f64,
                source: "resilience".into(),
                ..Default::default()
            }
        })
        .collect()
}

/// Kills the postmaster every `every_secs` seconds until `until`; returns
/// how many kills were made (none while it is still restarting).
async fn kill_repeatedly(postgres: &LocalPostgres, every_secs: u32, until: Instant) -> u32 {
    let every = Duration::from_secs(u64::from(every_secs));
    let mut kills = 0;
    loop {
        let next = Instant::now() + every;
        if next >= until {
            tokio::time::sleep_until(until).await;
            return kills;
        }
        tokio::time::sleep_until(next).await;
        if let Some(pid) = postgres.running_pid()
            && kill(pid, Signal::SIGKILL).is_ok()
        {
            kills += 1;
            progress!("killed the postmaster (pid {pid}), kill {kills}");
        }
    }
}

/// The stored rows of each write, by its number; waits for the database to
/// be back first.
async fn stored_rows(database_url: &str) -> Result<HashMap<u64, u64>> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut db = loop {
        match PgConnection::connect(database_url).await {
            Ok(db) => break db,
            Err(error) if Instant::now() < deadline => {
                progress!("waiting for PostgreSQL to be back ({error})");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => return Err(error).context("connect to count the stored rows"),
        }
    };
    let rows: Vec<(i64, i64)> =
        sqlx::query_as("select value::int8, count(*) from observation group by 1")
            .fetch_all(&mut db)
            .await
            .context("count the stored rows of each write")?;
    db.close().await.context("disconnect")?;
    Ok(rows
        .into_iter()
        .filter_map(|(write, count)| Some((u64::try_from(write).ok()?, u64::try_from(count).ok()?)))
        .collect())
}

/// Prints part one's figures.
pub fn report(loss: &WriteLoss) {
    let stored = |outcome: &Outcome| loss.stored.get(&outcome.write).copied().unwrap_or(0);
    let acknowledged: Vec<&Outcome> = loss.outcomes.iter().filter(|o| o.acknowledged).collect();
    let failed: Vec<&Outcome> = loss.outcomes.iter().filter(|o| !o.acknowledged).collect();
    let acknowledged_rows: u64 = acknowledged.iter().map(|o| o.rows).sum();
    let lost_rows: u64 = acknowledged
        .iter()
        .map(|o| o.rows.saturating_sub(stored(o)))
        .sum();
    let partial = failed
        .iter()
        .filter(|o| stored(o) > 0 && stored(o) < o.rows)
        .count();
    let failed_but_whole = failed.iter().filter(|o| stored(o) == o.rows).count();
    println!("no acknowledged write lost, while PostgreSQL is killed and restarted");
    println!(
        "  run                      {:.0} s, {} kills (SIGKILL to the postmaster; its supervisor starts it again, with crash recovery)",
        loss.seconds, loss.kills
    );
    println!(
        "  acknowledged             {} writes, {} rows (goal ≥ 100,000 rows)",
        thousands(acknowledged.len() as u64),
        thousands(acknowledged_rows)
    );
    println!(
        "  failed                   {} writes ({} of them stored whole: committed, answer lost)",
        thousands(failed.len() as u64),
        failed_but_whole
    );
    println!(
        "  lost                     {} rows of acknowledged writes (goal 0: {})",
        thousands(lost_rows),
        crate::report::verdict(lost_rows == 0)
    );
    println!(
        "  partial                  {partial} failed writes stored in part (goal 0: {})",
        crate::report::verdict(partial == 0)
    );
}
