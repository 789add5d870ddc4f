//! `goalpost-bench progress`: loads the ingest data set, creates goals over
//! it through GoalService, and times ProgressService's reads and
//! QueryMetric against their goals:
//!
//! | call | goal |
//! |---|---|
//! | GetGoalProgress at now | p50 ≤ 2 ms, p99 ≤ 10 ms |
//! | GetGoalProgress at a random past moment of the data | p50 ≤ 10 ms |
//! | ListGoalProgress of every goal in one page of 1,000 | p50 ≤ 1 s |
//! | GetProgressHistory of one goal, 365 daily steps | p50 ≤ 50 ms |
//! | QueryMetric, 30 DAY buckets over every account | p50 ≤ 10 ms |
//!
//! Reads are timed after a `VACUUM (ANALYZE)` of the loaded database, the
//! state autovacuum leaves it in. Calls rotate through the goals, so no one
//! goal's rows stay hot. A run
//! with `--rows 100000` gives the small-data figures the 5,000,000-row ones
//! are compared with (GetGoalProgress at now should not be more than twice
//! as slow at 50 times the data).

use fastrand::Rng;
use goalpost::pb;
use goalpost::pb::metric_service_client::MetricServiceClient;
use goalpost::pb::progress_service_client::ProgressServiceClient;
use sqlx::{Connection, PgConnection};
use tokio::time::Instant;
use tonic::transport::Channel;

use crate::ProgressArgs;
use crate::database::{checkpoint, server_version, vacuum_analyze};
use crate::dataset::{DAY_MICROS, timestamp};
use crate::error::{Context, Result};
use crate::goals::{KEY_RESULTS_PER_GOAL, Timeline, create_goals};
use crate::harness::{Harness, with_service};
use crate::load::load_dataset;
use crate::queries::query_latencies;
use crate::report::{
    LatencyGoal, WARMUP_CALLS, print_latency, print_machine, rate, thousands, time_calls,
};
use crate::service::MAX_MESSAGE_BYTES;

/// Seed of the random past moments, so two runs ask the same questions.
const AS_OF_SEED: u64 = 0x0061_735f_6f66;
/// Steps of a GetProgressHistory call: one a day for a year.
const HISTORY_STEPS: i64 = 365;
/// The page size of ListGoalProgress (the API's largest).
const LIST_PAGE_SIZE: i32 = 1_000;

/// Runs the whole progress benchmark, cleaning up whatever it started even
/// when a step fails.
pub async fn progress(args: ProgressArgs) -> Result<()> {
    with_service(args.data.keep, async |harness: &Harness<'_>| {
        run(&args, harness).await
    })
    .await
}

/// The benchmark proper, against a running service.
async fn run(args: &ProgressArgs, harness: &Harness<'_>) -> Result<()> {
    let channel = &harness.service.channel;
    let mut db = PgConnection::connect(harness.database_url)
        .await
        .context("connect to the benchmark database")?;
    let loaded = load_dataset(harness, &args.data, &mut db).await?;
    let plan = &loaded.plan;
    let goal_count = usize::try_from(args.goals).context("--goals")?;
    let timeline = Timeline::of(&loaded);
    progress!("creating and activating {goal_count} goals of {KEY_RESULTS_PER_GOAL} key results");
    let started = Instant::now();
    let goals = create_goals(channel, &loaded, &timeline, goal_count).await?;
    let setup_seconds = started.elapsed().as_secs_f64();
    progress!("vacuuming and analysing, as autovacuum would after the load");
    let vacuumed = Instant::now();
    vacuum_analyze(&mut db).await?;
    // The load's dirty pages written now, not by a checkpoint in the middle
    // of the timed reads.
    checkpoint(&mut db).await;
    let vacuum_seconds = vacuumed.elapsed().as_secs_f64();
    let (selections, settle_seconds) = selections_settled(&mut db).await?;

    println!("goalpost progress benchmark");
    print_machine(&server_version(&mut db).await?);
    println!(
        "  rows                     {} = {} accounts × {} metrics × {} points, loaded in {:.2} s ({} rows/s)",
        thousands(plan.row_count()),
        plan.accounts,
        plan.metrics.len(),
        plan.points,
        loaded.load.seconds,
        thousands(rate(plan.row_count(), loaded.load.seconds).round() as u64)
    );
    println!(
        "  goals                    {goal_count} OKRs × {KEY_RESULTS_PER_GOAL} key results, created and activated in {setup_seconds:.1} s; then VACUUM (ANALYZE) and CHECKPOINT in {vacuum_seconds:.1} s"
    );
    println!(
        "  selection rollups        {selections} registered by the service in the background, settled {settle_seconds:.1} s after the checkpoint"
    );

    let mut progress =
        ProgressServiceClient::new(channel.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES);
    let iterations = args.iterations;
    println!(
        "ProgressService, calls rotating through the goals after warm-ups ({WARMUP_CALLS} for GetGoalProgress, 1 for ListGoalProgress, 2 for GetProgressHistory) (ms)"
    );
    let stats = time_calls(WARMUP_CALLS, iterations, async |call| {
        let goal = &goals[call as usize % goals.len()];
        get_progress(&mut progress, goal, None).await
    })
    .await?;
    print_latency(
        &format!("GetGoalProgress at now, {iterations} calls"),
        &stats,
        &LatencyGoal::p50_p99(2.0, 10.0),
    );

    let mut rng = Rng::with_seed(AS_OF_SEED);
    let stats = time_calls(WARMUP_CALLS, iterations, async |call| {
        let goal = &goals[call as usize % goals.len()];
        let as_of = rng.i64(timeline.data_start..=timeline.data_end);
        get_progress(&mut progress, goal, Some(as_of)).await
    })
    .await?;
    print_latency(
        &format!("GetGoalProgress at a past moment, {iterations} calls"),
        &stats,
        &LatencyGoal::p50(10.0),
    );

    let mut counts = Vec::new();
    let list_iterations = args.list_iterations;
    let stats = time_calls(1, list_iterations, async |_| {
        counts = list_progress(&mut progress, goals.len()).await?;
        Ok(())
    })
    .await?;
    print_latency(
        &format!("ListGoalProgress, {goal_count} goals, {list_iterations} calls"),
        &stats,
        &LatencyGoal::p50(1_000.0),
    );

    let history_iterations = args.history_iterations;
    let end = timeline.data_end - timeline.data_end.rem_euclid(DAY_MICROS);
    let start = end - (HISTORY_STEPS - 1) * DAY_MICROS;
    let stats = time_calls(2, history_iterations, async |call| {
        let goal = &goals[call as usize % goals.len()];
        history(&mut progress, goal, start, end).await
    })
    .await?;
    print_latency(
        &format!("GetProgressHistory, {HISTORY_STEPS} days, {history_iterations} calls"),
        &stats,
        &LatencyGoal::p50(50.0),
    );
    println!("  goal statuses at now     {}", counts.join(", "));

    let mut metrics =
        MetricServiceClient::new(channel.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES);
    query_latencies(
        &mut metrics,
        &loaded.chosen,
        iterations,
        Some(&LatencyGoal::p50(10.0)),
    )
    .await?;
    db.close()
        .await
        .context("disconnect from the benchmark database")
}

/// Waits until the service has registered the selections of the goals'
/// key results (it does so in the background, seconds after their writes):
/// until their number holds still for a second, at most a minute. Reads
/// are timed in that steady state. Returns the number and the wait.
async fn selections_settled(db: &mut PgConnection) -> Result<(i64, f64)> {
    let started = Instant::now();
    let mut last = -1;
    loop {
        let count: i64 = sqlx::query_scalar("select count(*) from rollup_selection")
            .fetch_one(&mut *db)
            .await
            .context("count the registered selections")?;
        if count == last || started.elapsed() > std::time::Duration::from_secs(60) {
            return Ok((count, started.elapsed().as_secs_f64()));
        }
        last = count;
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// One GetGoalProgress call, checked for the goal's key results.
async fn get_progress(
    progress: &mut ProgressServiceClient<Channel>,
    goal: &str,
    as_of: Option<i64>,
) -> Result<()> {
    let response = progress
        .get_goal_progress(pb::GetGoalProgressRequest {
            goal: goal.to_owned(),
            as_of: as_of.map(timestamp),
        })
        .await
        .with_context(|| format!("GetGoalProgress {goal}"))?
        .into_inner();
    if response.key_results.len() != KEY_RESULTS_PER_GOAL {
        return Err(format!(
            "GetGoalProgress {goal} reported {} key results, expected {KEY_RESULTS_PER_GOAL}",
            response.key_results.len()
        )
        .into());
    }
    Ok(())
}

/// One ListGoalProgress call over every goal, checked to hold all `count`
/// goals in its one page; returns the status counts as `STATUS n` texts.
async fn list_progress(
    progress: &mut ProgressServiceClient<Channel>,
    count: usize,
) -> Result<Vec<String>> {
    let response = progress
        .list_goal_progress(pb::ListGoalProgressRequest {
            page_size: LIST_PAGE_SIZE,
            page_token: String::new(),
            filter: String::new(),
            as_of: None,
        })
        .await
        .context("ListGoalProgress")?
        .into_inner();
    if response.goal_progress.len() != count || !response.next_page_token.is_empty() {
        return Err(format!(
            "ListGoalProgress returned {} goals (next page token {:?}), expected all {count} in one page",
            response.goal_progress.len(),
            response.next_page_token
        )
        .into());
    }
    Ok(response
        .status_counts
        .iter()
        .filter(|count| count.count > 0)
        .map(|count| {
            let status = count.status().as_str_name();
            let status = status.strip_prefix("PROGRESS_STATUS_").unwrap_or(status);
            format!("{status} {}", count.count)
        })
        .collect())
}

/// One GetProgressHistory call of daily steps from `start` to `end`, both
/// midnights, checked for its step count.
async fn history(
    progress: &mut ProgressServiceClient<Channel>,
    goal: &str,
    start: i64,
    end: i64,
) -> Result<()> {
    let response = progress
        .get_progress_history(pb::GetProgressHistoryRequest {
            goal: goal.to_owned(),
            start: Some(timestamp(start)),
            end: Some(timestamp(end)),
            interval: pb::Interval::Day as i32,
        })
        .await
        .with_context(|| format!("GetProgressHistory {goal}"))?
        .into_inner();
    if i64::try_from(response.steps.len()).ok() != Some(HISTORY_STEPS) {
        return Err(format!(
            "GetProgressHistory {goal} returned {} steps, expected {HISTORY_STEPS}",
            response.steps.len()
        )
        .into());
    }
    Ok(())
}
