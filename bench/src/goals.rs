//! The goals the progress benchmark evaluates, created through the API over
//! the loaded data set: OKRs of three metric key results each, started
//! about 120 days before the data's newest day with a deadline about 60
//! days after it, and activated.
//!
//! Key result `k` (over every goal, in order) gets the window
//! `[7, 30, 90, 0][k % 4]` days (0 is cumulative since the goal's start);
//! one key result in three is over every account, the others over 10
//! consecutive accounts; the metric rotates through the loaded SUM and LAST
//! metrics and the derived ones, a derived key result over every account
//! being `engagement_rate`.
//! Cumulative windows take a `target_value`; the others alternate between
//! a `target_value` and a `target_change_percent` from a baseline measured
//! over the data's first week.

use goalpost::pb;
use goalpost::pb::goal_service_client::GoalServiceClient;
use goalpost::pb::metric_definition::{Aggregation, Kind};
use goalpost::pb::metric_service_client::MetricServiceClient;
use tonic::transport::Channel;

use crate::dataset::{DAY_MICROS, STEP_MICROS, timestamp};
use crate::error::{Context, Result};
use crate::load::{Loaded, list_definitions};

/// Key results per goal.
pub const KEY_RESULTS_PER_GOAL: usize = 3;
/// Days from the goals' start to the data's newest day.
const START_DAYS_BEFORE_NEWEST: i64 = 120;
/// Days from the data's newest day to the goals' deadline.
const DEADLINE_DAYS_AFTER_NEWEST: i64 = 60;
/// The windows key results rotate through, in days; 0 is cumulative.
const WINDOWS: [i32; 4] = [7, 30, 90, 0];
/// Accounts of a key result that is not over every account.
const ACCOUNTS_PER_KEY_RESULT: usize = 10;
/// The derived metric the brief of the benchmark asks for over every
/// account.
const ENGAGEMENT_RATE: &str = "engagement_rate";
/// The goal types goals rotate through.
const GOAL_TYPES: [pb::GoalType; 4] = [
    pb::GoalType::CommunityEngagement,
    pb::GoalType::BrandAwareness,
    pb::GoalType::Conversions,
    pb::GoalType::LeadGeneration,
];

/// The metrics key results rotate through: loaded SUM and LAST base
/// metrics, interleaved, and derived metrics.
struct MetricMix {
    /// Loaded base metrics aggregated by SUM or LAST, alternating kinds.
    base: Vec<String>,
    /// Built-in derived metrics, `engagement_rate` first.
    derived: Vec<String>,
}

impl MetricMix {
    /// The mix from the loaded metrics and the catalog's derived ones.
    async fn new(
        metrics: &mut MetricServiceClient<Channel>,
        chosen: &[pb::MetricDefinition],
    ) -> Result<MetricMix> {
        let of = |aggregation: Aggregation| -> Vec<String> {
            chosen
                .iter()
                .filter(|definition| definition.aggregation() == aggregation)
                .map(|definition| definition.key.clone())
                .collect()
        };
        let (sums, lasts) = (of(Aggregation::Sum), of(Aggregation::Last));
        let mut base = Vec::with_capacity(sums.len() + lasts.len());
        for i in 0..sums.len().max(lasts.len()) {
            base.extend(sums.get(i).cloned());
            base.extend(lasts.get(i).cloned());
        }
        let mut derived: Vec<String> = list_definitions(metrics, "kind = DERIVED")
            .await?
            .into_iter()
            .filter(|definition| definition.builtin && definition.kind() == Kind::Derived)
            .map(|definition| definition.key)
            .collect();
        if let Some(at) = derived.iter().position(|key| key == ENGAGEMENT_RATE) {
            let engagement = derived.remove(at);
            derived.insert(0, engagement);
        }
        if base.is_empty() {
            return Err("none of the loaded metrics aggregates by SUM or LAST".into());
        }
        Ok(MetricMix { base, derived })
    }

    /// The metric of key result `k`: every third one derived (when the
    /// catalog has derived metrics), `engagement_rate` when it is over every
    /// account, the others in turn; the rest base metrics in turn.
    fn metric(&self, k: usize, all_accounts: bool) -> &str {
        if k % 3 != 1 || self.derived.is_empty() {
            &self.base[k % self.base.len()]
        } else if all_accounts {
            &self.derived[0]
        } else {
            &self.derived[(k / 3) % self.derived.len()]
        }
    }
}

/// The goals' time frame and the data's, in Unix microseconds.
pub struct Timeline {
    /// The oldest observation's time (before each series' own offset).
    pub data_start: i64,
    /// The newest observation's time (before each series' own offset).
    pub data_end: i64,
    /// The goals' start_time: a UTC midnight.
    pub goal_start: i64,
    /// The goals' deadline: a UTC midnight.
    pub deadline: i64,
}

impl Timeline {
    /// The time frame of goals over `loaded`.
    pub fn of(loaded: &Loaded) -> Timeline {
        let plan = &loaded.plan;
        let data_end = plan.newest_micros;
        let data_start = data_end - (plan.points as i64 - 1) * STEP_MICROS;
        let newest_day = data_end - data_end.rem_euclid(DAY_MICROS);
        Timeline {
            data_start,
            data_end,
            goal_start: newest_day - START_DAYS_BEFORE_NEWEST * DAY_MICROS,
            deadline: newest_day + DEADLINE_DAYS_AFTER_NEWEST * DAY_MICROS,
        }
    }
}

/// Creates and activates `count` goals of [`KEY_RESULTS_PER_GOAL`] key
/// results each over `loaded`, and returns their names in creation order.
pub async fn create_goals(
    channel: &Channel,
    loaded: &Loaded,
    timeline: &Timeline,
    count: usize,
) -> Result<Vec<String>> {
    let mut goals = GoalServiceClient::new(channel.clone());
    let mut metrics = MetricServiceClient::new(channel.clone());
    let mix = MetricMix::new(&mut metrics, &loaded.chosen).await?;
    let mut names = Vec::with_capacity(count);
    for i in 0..count {
        let goal = goals
            .create_goal(pb::CreateGoalRequest {
                goal: Some(pb::Goal {
                    title: format!("Benchmark goal {i}"),
                    goal_type: GOAL_TYPES[i % GOAL_TYPES.len()] as i32,
                    framework: pb::goal::Framework::Okr as i32,
                    owner: "benchmark".into(),
                    team: "bench".into(),
                    business_objective: "Measure how fast goalpost reports progress".into(),
                    start_time: Some(timestamp(timeline.goal_start)),
                    deadline: Some(timestamp(timeline.deadline)),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .with_context(|| format!("CreateGoal {i}"))?
            .into_inner();
        for j in 0..KEY_RESULTS_PER_GOAL {
            let k = i * KEY_RESULTS_PER_GOAL + j;
            goals
                .create_key_result(pb::CreateKeyResultRequest {
                    parent: goal.name.clone(),
                    key_result: Some(key_result(k, (i + j) % 3 == 0, &mix, loaded, timeline)),
                    request_id: String::new(),
                })
                .await
                .with_context(|| format!("CreateKeyResult {j} of goal {i}"))?;
        }
        goals
            .activate_goal(pb::ActivateGoalRequest {
                name: goal.name.clone(),
                etag: String::new(),
            })
            .await
            .with_context(|| format!("ActivateGoal {i}"))?;
        names.push(goal.name);
    }
    Ok(names)
}

/// Key result `k`, over every account when `all_accounts`.
fn key_result(
    k: usize,
    all_accounts: bool,
    mix: &MetricMix,
    loaded: &Loaded,
    timeline: &Timeline,
) -> pb::KeyResult {
    let window_days = WINDOWS[k % WINDOWS.len()];
    let metric_key = mix.metric(k, all_accounts).to_owned();
    let accounts = if all_accounts {
        Vec::new()
    } else {
        let names = &loaded.account_names;
        let first = (k * 7) % names.len();
        (0..ACCOUNTS_PER_KEY_RESULT.min(names.len()))
            .map(|offset| names[(first + offset) % names.len()].clone())
            .collect()
    };
    let relative = window_days != 0 && k % 2 == 1;
    let (baseline_start, baseline_end) = if relative {
        // The data's first week, or its first day when it spans less (the
        // range must not be empty).
        let end = (timeline.data_start + 7 * DAY_MICROS)
            .min(timeline.data_end)
            .max(timeline.data_start + DAY_MICROS);
        (Some(timestamp(timeline.data_start)), Some(timestamp(end)))
    } else {
        (None, None)
    };
    pb::KeyResult {
        title: format!("Move {metric_key} ({window_days}-day window)"),
        kind: pb::key_result::Kind::Metric as i32,
        metric_key,
        accounts,
        window_days,
        baseline_start,
        baseline_end,
        target_value: (!relative).then_some(1_000_000.0),
        target_change_percent: relative.then_some(20.0),
        ..Default::default()
    }
}
