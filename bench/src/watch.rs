//! `goalpost-bench watch`: the latency of WatchGoalProgress under a steady
//! write load, and what a subscriber costs that load.
//!
//! One goal has a key result over every account (the 7-day sum of likes),
//! so every write moves it. A writer sends `--rate` observations a second
//! through WriteObservations in batches of `--batch`, one batch in flight
//! at a time on a fixed schedule, for `--seconds`; each batch's newest
//! observation is its own moment, a microsecond after the previous one. The
//! load runs twice: without a subscriber, then with one watching the goal.
//! Each message names the newest observation it counts (the key result's
//! last_observation_time); a batch's latency is from its acknowledgement
//! to the first message counting it. For each phase the benchmark prints
//! the rate achieved, the writes' latency and the service's CPU time. At
//! the end one StreamObservations call of `--bulk-rows` rows runs while the
//! subscriber watches, and the messages it caused are counted (one
//! transaction: one message is the goal).

use std::time::Duration;

use goalpost::pb;
use goalpost::pb::audit_service_client::AuditServiceClient;
use goalpost::pb::goal_service_client::GoalServiceClient;
use goalpost::pb::metric_service_client::MetricServiceClient;
use goalpost::pb::progress_service_client::ProgressServiceClient;
use tokio::time::Instant;
use tokio_stream::StreamExt;
use tonic::transport::Channel;

use crate::WatchArgs;
use crate::dataset::timestamp;
use crate::error::{Context, Result};
use crate::harness::{Harness, with_service};
use crate::load::create_accounts;
use crate::report::{Latency, thousands};

/// One acknowledged batch.
#[derive(Debug, Clone, Copy)]
struct Batch {
    /// Its newest observation's time, in microseconds since the epoch.
    newest_micros: i64,
    /// When the service acknowledged it.
    acknowledged: Instant,
}

/// One message of the watch.
#[derive(Debug, Clone, Copy)]
struct Message {
    /// The newest observation it counts, in microseconds since the epoch.
    newest_micros: i64,
    /// When it arrived.
    arrived: Instant,
}

/// What one phase of load measured.
struct Phase {
    batches: Vec<Batch>,
    write_latency: Latency,
    seconds: f64,
    cpu_seconds: f64,
}

/// Runs the watch benchmark, cleaning up whatever it started.
pub async fn watch(args: WatchArgs) -> Result<()> {
    with_service(args.keep, async |harness: &Harness<'_>| {
        run(&args, harness).await
    })
    .await
}

async fn run(args: &WatchArgs, harness: &Harness<'_>) -> Result<()> {
    let channel = &harness.service.channel;
    let mut audits = AuditServiceClient::new(channel.clone());
    let accounts = create_accounts(&mut audits, args.accounts as usize).await?;
    let goal = create_goal(channel).await?;
    let seconds = Duration::from_secs(u64::from(args.seconds));

    progress!("loading without a subscriber for {} s", args.seconds);
    let alone = write_load(channel, &accounts, args, seconds, harness.service.pid).await?;

    progress!("loading with a subscriber for {} s", args.seconds);
    let stream = ProgressServiceClient::new(channel.clone())
        .watch_goal_progress(pb::WatchGoalProgressRequest {
            goals: vec![goal.clone()],
        })
        .await
        .context("WatchGoalProgress")?
        .into_inner();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let reader = tokio::spawn(read_messages(stream, stopped));
    let watched = write_load(channel, &accounts, args, seconds, harness.service.pid).await?;
    // Let the last batch's message arrive.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let bulk = if args.bulk_rows > 0 {
        progress!(
            "streaming {} rows in one StreamObservations call",
            args.bulk_rows
        );
        Some(bulk_load(channel, &accounts, args.bulk_rows).await?)
    } else {
        None
    };
    let _ = stop.send(());
    let messages = reader.await.context("the watch reader")?;
    // Messages arrive in order: those of the steady load come first.
    let steady = bulk.as_ref().map_or(messages.len(), |bulk| {
        messages.partition_point(|message| message.arrived < bulk.started)
    });
    report(args, &alone, &watched, &messages[..steady]);
    if let Some(bulk) = bulk {
        let during = messages.len() - steady;
        println!(
            "  bulk stream              {} rows in one StreamObservations call in {:.1} s: {during} watch message(s) from its start to 1 s after its acknowledgement",
            thousands(bulk.rows),
            bulk.seconds
        );
    }
    Ok(())
}

/// A bulk load streamed while the subscriber watches.
struct Bulk {
    rows: u64,
    started: Instant,
    seconds: f64,
}

/// Streams `rows` likes, older than every other write of the run but inside
/// the key result's 7-day window, in chunks of 10,000; waits a second after
/// the acknowledgement for the messages it causes.
async fn bulk_load(channel: &Channel, accounts: &[String], rows: u64) -> Result<Bulk> {
    let newest = chrono::Utc::now().timestamp_micros() - 3_600_000_000;
    let accounts = accounts.to_vec();
    let chunks = (0..rows).step_by(10_000).map(move |first| {
        let observations = (first..(first + 10_000).min(rows))
            .map(|index| pb::Observation {
                metric_key: "likes".into(),
                account: accounts[index as usize % accounts.len()].clone(),
                observed_at: Some(timestamp(newest - index as i64)),
                value: 1.0,
                source: "watch-bench-bulk".into(),
                recorded_at: None,
                recorded_by: String::new(),
            })
            .collect();
        pb::StreamObservationsRequest { observations }
    });
    let started = Instant::now();
    MetricServiceClient::new(channel.clone())
        .stream_observations(tokio_stream::iter(chunks))
        .await
        .context("StreamObservations")?;
    let seconds = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(Bulk {
        rows,
        started,
        seconds,
    })
}

/// The watch's messages until `stop`.
async fn read_messages(
    mut stream: tonic::Streaming<pb::GoalProgress>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> Vec<Message> {
    let mut messages = Vec::new();
    loop {
        let progress = tokio::select! {
            next = stream.next() => match next {
                Some(Ok(progress)) => progress,
                _ => return messages,
            },
            _ = &mut stop => return messages,
        };
        let arrived = Instant::now();
        let newest = progress
            .key_results
            .first()
            .and_then(|key_result| key_result.last_observation_time);
        if let Some(newest) = newest {
            messages.push(Message {
                newest_micros: newest.seconds * 1_000_000 + i64::from(newest.nanos / 1_000),
                arrived,
            });
        }
    }
}

/// Creates and activates the watched goal: the 7-day sum of likes over
/// every account, from a day ago to a month ahead.
pub(crate) async fn create_goal(channel: &Channel) -> Result<String> {
    let mut goals = GoalServiceClient::new(channel.clone());
    let now = chrono::Utc::now().timestamp_micros();
    let day = 86_400_000_000;
    let goal = goals
        .create_goal(pb::CreateGoalRequest {
            goal: Some(pb::Goal {
                title: "Watched benchmark goal".into(),
                goal_type: pb::GoalType::CommunityEngagement as i32,
                framework: pb::goal::Framework::Okr as i32,
                start_time: Some(timestamp(now - day)),
                deadline: Some(timestamp(now + 30 * day)),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .context("CreateGoal")?
        .into_inner();
    goals
        .create_key_result(pb::CreateKeyResultRequest {
            parent: goal.name.clone(),
            key_result: Some(pb::KeyResult {
                title: "Likes over every account".into(),
                kind: pb::key_result::Kind::Metric as i32,
                metric_key: "likes".into(),
                window_days: 7,
                baseline_value: Some(0.0),
                target_value: Some(1e12),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .context("CreateKeyResult")?;
    goals
        .activate_goal(pb::ActivateGoalRequest {
            name: goal.name.clone(),
            etag: String::new(),
        })
        .await
        .context("ActivateGoal")?;
    Ok(goal.name)
}

/// Writes `args.rate` likes a second in batches of `args.batch` for
/// `seconds`, one batch in flight, on a fixed schedule (a late batch is
/// sent at once, not skipped).
async fn write_load(
    channel: &Channel,
    accounts: &[String],
    args: &WatchArgs,
    seconds: Duration,
    service_pid: nix::unistd::Pid,
) -> Result<Phase> {
    let mut metrics = MetricServiceClient::new(channel.clone());
    let batch = args.batch as usize;
    let interval = Duration::from_secs_f64(f64::from(args.batch) / f64::from(args.rate));
    let cpu_before = cpu_seconds(service_pid)?;
    let started = Instant::now();
    let mut batches = Vec::new();
    let mut write_times = Vec::new();
    let mut next_micros = chrono::Utc::now().timestamp_micros();
    let mut index = 0usize;
    while started.elapsed() < seconds {
        let due = started + interval * u32::try_from(batches.len()).unwrap_or(u32::MAX);
        tokio::time::sleep_until(due).await;
        // Each row its own microsecond, never ahead of the clock: progress
        // counts what was observed by now.
        next_micros = next_micros.max(chrono::Utc::now().timestamp_micros() - 1_000);
        let observations: Vec<pb::Observation> = (0..batch)
            .map(|_| {
                next_micros += 1;
                index += 1;
                pb::Observation {
                    metric_key: "likes".into(),
                    account: accounts[index % accounts.len()].clone(),
                    observed_at: Some(timestamp(next_micros)),
                    value: 1.0,
                    source: "watch-bench".into(),
                    recorded_by: String::new(),
                    recorded_at: None,
                }
            })
            .collect();
        let sent = Instant::now();
        metrics
            .write_observations(pb::WriteObservationsRequest { observations })
            .await
            .context("WriteObservations")?;
        let acknowledged = Instant::now();
        write_times.push(acknowledged - sent);
        batches.push(Batch {
            newest_micros: next_micros,
            acknowledged,
        });
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(Phase {
        batches,
        write_latency: Latency::of(&mut write_times),
        seconds,
        cpu_seconds: cpu_seconds(service_pid)? - cpu_before,
    })
}

/// The CPU time (user and system) a process has used, from `/proc`.
fn cpu_seconds(pid: nix::unistd::Pid) -> Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    // The command name is in parentheses and may hold spaces: count fields
    // after its closing one. utime and stime are fields 14 and 15.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| format!("no command name in {path}"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| -> Result<f64> {
        fields
            .get(index)
            .and_then(|field| field.parse::<f64>().ok())
            .ok_or_else(|| format!("no field {} in {path}", index + 3).into())
    };
    // /proc counts in USER_HZ, which the kernel fixes at 100 for user space.
    const TICKS_PER_SECOND: f64 = 100.0;
    Ok((ticks(11)? + ticks(12)?) / TICKS_PER_SECOND)
}

/// Each batch's latency from its acknowledgement to the first message that
/// counts it (a message counts every batch up to its newest observation;
/// one that arrived before the acknowledgement reached the writer counts as
/// zero). Batches no message counted are left out.
fn watch_latencies(batches: &[Batch], messages: &[Message]) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(batches.len());
    let mut next_message = 0;
    for batch in batches {
        while next_message < messages.len()
            && messages[next_message].newest_micros < batch.newest_micros
        {
            next_message += 1;
        }
        let Some(message) = messages.get(next_message) else {
            break;
        };
        latencies.push(
            message
                .arrived
                .saturating_duration_since(batch.acknowledged),
        );
    }
    latencies
}

fn report(args: &WatchArgs, alone: &Phase, watched: &Phase, messages: &[Message]) {
    let mut latencies = watch_latencies(&watched.batches, messages);
    let counted = latencies.len();
    let latency = Latency::of(&mut latencies);
    println!("goalpost watch benchmark");
    println!(
        "  load                     {} observations/s asked, batches of {} through WriteObservations, {} s per phase",
        thousands(u64::from(args.rate)),
        args.batch,
        args.seconds
    );
    for (label, phase) in [
        ("without a subscriber", alone),
        ("with a subscriber", watched),
    ] {
        let rows = phase.batches.len() as u64 * u64::from(args.batch);
        println!(
            "  {label:<24} {} observations/s achieved; write p50 {:.2} ms, p99 {:.2} ms; service CPU {:.1} % of one core",
            thousands((rows as f64 / phase.seconds).round() as u64),
            phase.write_latency.p50_ms,
            phase.write_latency.p99_ms,
            100.0 * phase.cpu_seconds / phase.seconds
        );
    }
    println!(
        "  watch messages           {} in {:.1} s ({:.1}/s) for {} writes",
        messages.len(),
        watched.seconds,
        messages.len() as f64 / watched.seconds,
        watched.batches.len()
    );
    println!(
        "  watch latency            p50 {:.1} ms, p99 {:.1} ms from a write's acknowledgement to the first message counting it ({counted} writes)",
        latency.p50_ms, latency.p99_ms
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_counts_every_batch_up_to_its_newest_observation() {
        let zero = Instant::now();
        let ms = |n: u64| zero + Duration::from_millis(n);
        let batches = [
            Batch {
                newest_micros: 10,
                acknowledged: ms(0),
            },
            Batch {
                newest_micros: 20,
                acknowledged: ms(10),
            },
            Batch {
                newest_micros: 30,
                acknowledged: ms(20),
            },
            Batch {
                newest_micros: 40,
                acknowledged: ms(30),
            },
        ];
        let messages = [
            Message {
                newest_micros: 20,
                arrived: ms(15),
            },
            Message {
                newest_micros: 30,
                arrived: ms(18),
            },
        ];
        let latencies = watch_latencies(&batches, &messages);
        assert_eq!(
            latencies,
            [
                Duration::from_millis(15),
                Duration::from_millis(5),
                Duration::ZERO
            ],
            "the last batch no message counted is left out"
        );
    }
}
