//! `QueryMetric` latency over the loaded data: 30 DAY buckets over every
//! account, for a SUM metric and for a built-in derived metric whose terms
//! were loaded, with the window aligned to UTC midnights and not aligned
//! (partial days at both edges).

use goalpost::pb;
use goalpost::pb::metric_definition::{Aggregation, Kind};
use goalpost::pb::metric_service_client::MetricServiceClient;
use tokio::time::Instant;
use tonic::transport::Channel;

use crate::dataset::{DAY_MICROS, timestamp};
use crate::error::{Context, Result};
use crate::load::list_definitions;
use crate::report::{Latency, LatencyGoal, WARMUP_CALLS, verdict};

/// Length of the QueryMetric window, in days.
const QUERY_DAYS: i64 = 30;

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
/// line per case, with a verdict when there is a `goal`.
pub async fn query_latencies(
    metrics: &mut MetricServiceClient<Channel>,
    chosen: &[pb::MetricDefinition],
    iterations: u32,
    goal: Option<&LatencyGoal>,
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
        let judged = goal.map_or(String::new(), |goal| {
            format!(", {}: {}", goal.describe(), verdict(goal.met_by(&stats)))
        });
        println!(
            "  {:<40} p50 {:>7.2}  p99 {:>7.2}  mean {:>7.2}  ({with_data}/{} buckets with data{judged})",
            case.label, stats.p50_ms, stats.p99_ms, stats.mean_ms, case.buckets
        );
    }
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
