//! The progress math of DESIGN §2 as small pure functions: targets, progress,
//! scores, expected scores, goal scores, statuses and grades.
//!
//! Nothing here knows about storage or protobuf. `None` always means "no
//! data" and is never folded into 0 here; only the goal score counts a key
//! result without data as 0, because the contract says so.

use chrono::{DateTime, Utc};

use crate::catalog::Better;
use crate::goals::model::{Checkpoint, TargetMode, TargetSpec};
pub use crate::goals::model::{Grade, Status};

/// Nanoseconds in one day, for exact day arithmetic on timestamps.
const NANOS_PER_DAY: i128 = 86_400 * 1_000_000_000;

/// The time frame of a goal. Bundled so that start, deadline and the moment of
/// evaluation, three values of one type, cannot be passed in the wrong order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// When the goal starts.
    pub start: DateTime<Utc>,
    /// When the goal is due.
    pub deadline: DateTime<Utc>,
}

/// One key result's share of its goal's score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeightedScore {
    /// The key result's weight (non-negative).
    pub weight: f64,
    /// The key result's score, `None` when it has no data.
    pub score: Option<f64>,
}

/// A goal's score and whether it rests on complete data; the default is a
/// goal without key results.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GoalScore {
    /// The weighted mean of the key results' scores, 0 without key results.
    pub score: f64,
    /// Whether every key result has data (false without key results).
    pub complete: bool,
    /// Whether at least one key result has data; without any the goal's status is no data.
    pub any_data: bool,
}

/// How many of a key result's milestones are done at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MilestoneCount {
    /// Milestones done at or before the moment.
    pub done: usize,
    /// All milestones.
    pub total: usize,
}

/// The value a key result aims for; a relative target without a baseline has no data.
pub fn target(spec: TargetSpec, baseline: Option<f64>) -> Option<f64> {
    match spec {
        TargetSpec::Value(value) => Some(value),
        // (100 + p) / 100 rather than 1 + p / 100: whole percentages stay exact,
        // so 0.8 at −20 % is 0.64 and not 0.6400000000000001.
        TargetSpec::ChangePercent(percent) => baseline.map(|base| base * (100.0 + percent) / 100.0),
    }
}

/// (current − baseline) / (target − baseline), unclamped; `None` when any value
/// has no data or the target equals the baseline.
pub fn progress(baseline: Option<f64>, current: Option<f64>, target: Option<f64>) -> Option<f64> {
    let (baseline, current, target) = (baseline?, current?, target?);
    if target == baseline {
        return None;
    }
    if current == target {
        // Guaranteed exactly 1, whatever the rounding of the subtraction.
        return Some(1.0);
    }
    Some((current - baseline) / (target - baseline))
}

/// A key result's score in [0, 1] under its target mode; `None` when a value
/// the mode needs has no data (AT_LEAST and AT_MOST need no baseline).
pub fn score(
    mode: TargetMode,
    better: Better,
    baseline: Option<f64>,
    current: Option<f64>,
    target: Option<f64>,
) -> Option<f64> {
    let (current, target) = (current?, target?);
    let met = match mode {
        TargetMode::AtLeast => current >= target,
        TargetMode::AtMost => current <= target,
        TargetMode::Reach => {
            let baseline = baseline?;
            if let Some(progress) = progress(Some(baseline), Some(current), Some(target)) {
                return Some(progress.clamp(0.0, 1.0));
            }
            // No distance to cover: the metric's better direction says which side counts.
            match better {
                Better::Higher => current >= target,
                Better::Lower => current <= target,
            }
        }
    };
    Some(if met { 1.0 } else { 0.0 })
}

/// The fraction of `period` elapsed at `at`, clamped to [0, 1]. A period of
/// zero or negative length is all elapsed from its deadline on and none before.
pub fn time_fraction(period: Period, at: DateTime<Utc>) -> f64 {
    if at >= period.deadline {
        return 1.0;
    }
    if at <= period.start {
        return 0.0;
    }
    exact_ratio(
        nanos(at) - nanos(period.start),
        nanos(period.deadline) - nanos(period.start),
    )
}

/// The signed number of days from `from` to `to`, fractional.
pub fn days_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    exact_ratio(nanos(to) - nanos(from), NANOS_PER_DAY)
}

/// Nanoseconds since the epoch; i128 holds every `DateTime<Utc>` without overflow.
fn nanos(moment: DateTime<Utc>) -> i128 {
    i128::from(moment.timestamp()) * 1_000_000_000 + i128::from(moment.timestamp_subsec_nanos())
}

/// `numerator / denominator` with one rounding when the reduced fraction fits
/// in 53 bits, so 90 days of 181 gives exactly the float of 90.0 / 181.0.
fn exact_ratio(numerator: i128, denominator: i128) -> f64 {
    let (mut a, mut b) = (numerator.abs(), denominator.abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    let divisor = a.max(1);
    (numerator / divisor) as f64 / (denominator / divisor) as f64
}

/// The value expected at `at` on the piecewise linear path from
/// (start, baseline) through each checkpoint to (deadline, target): the
/// baseline up to the start and the target from the deadline on. Checkpoints
/// should be sorted by time; any outside (start, deadline) are ignored.
pub fn expected_value(
    period: Period,
    baseline: f64,
    checkpoints: &[Checkpoint],
    target: f64,
    at: DateTime<Utc>,
) -> f64 {
    if at >= period.deadline {
        return target;
    }
    if at <= period.start {
        return baseline;
    }
    let inside = checkpoints
        .iter()
        .filter(|checkpoint| checkpoint.time > period.start && checkpoint.time < period.deadline)
        .map(|checkpoint| (checkpoint.time, checkpoint.target_value));
    let mut from = (period.start, baseline);
    for to in inside.chain(std::iter::once((period.deadline, target))) {
        if at < to.0 {
            let segment = Period {
                start: from.0,
                deadline: to.0,
            };
            return from.1 + (to.1 - from.1) * time_fraction(segment, at);
        }
        from = to;
    }
    target
}

/// A key result's expected score at `at`: the time fraction without
/// checkpoints, else the progress of the expected value clamped to [0, 1],
/// falling back to the time fraction when baseline or target has no data or
/// they are equal.
pub fn key_result_expected(
    period: Period,
    at: DateTime<Utc>,
    baseline: Option<f64>,
    target: Option<f64>,
    checkpoints: &[Checkpoint],
) -> f64 {
    let (Some(base), Some(goal)) = (baseline, target) else {
        return time_fraction(period, at);
    };
    if checkpoints.is_empty() {
        return time_fraction(period, at);
    }
    let value = expected_value(period, base, checkpoints, goal, at);
    progress(Some(base), Some(value), Some(goal))
        .map_or_else(|| time_fraction(period, at), |share| share.clamp(0.0, 1.0))
}

/// Counts the milestones done at or before `at`; `None` is a milestone not done.
pub fn milestones_done(done_times: &[Option<DateTime<Utc>>], at: DateTime<Utc>) -> MilestoneCount {
    let done = done_times
        .iter()
        .flatten()
        .filter(|done_time| **done_time <= at)
        .count();
    MilestoneCount {
        done,
        total: done_times.len(),
    }
}

/// The fraction of milestones done at or before `at`, 0 when there are none.
pub fn milestone_score(done_times: &[Option<DateTime<Utc>>], at: DateTime<Utc>) -> f64 {
    let count = milestones_done(done_times, at);
    if count.total == 0 {
        return 0.0;
    }
    count.done as f64 / count.total as f64
}

/// The weighted mean of key results' scores, a score without data counting 0.
/// If the weights sum to 0 every key result counts equally, so a goal whose
/// weights were all zeroed still has a meaningful score.
pub fn goal_score(parts: &[WeightedScore]) -> GoalScore {
    if parts.is_empty() {
        return GoalScore::default();
    }
    let total_weight: f64 = parts.iter().map(|part| part.weight).sum();
    let weight_of = |part: &WeightedScore| if total_weight > 0.0 { part.weight } else { 1.0 };
    let counted = |part: &WeightedScore| part.score.unwrap_or(0.0);
    let weight_sum: f64 = parts.iter().map(weight_of).sum();
    let mean = parts
        .iter()
        .map(|part| weight_of(part) * counted(part))
        .sum::<f64>()
        / weight_sum;
    // A mean lies between its extremes; rounding (0.1 × 3 / 3) could step outside.
    let lowest = parts.iter().map(counted).fold(f64::INFINITY, f64::min);
    let highest = parts.iter().map(counted).fold(f64::NEG_INFINITY, f64::max);
    GoalScore {
        score: mean.clamp(lowest, highest),
        complete: parts.iter().all(|part| part.score.is_some()),
        any_data: parts.iter().any(|part| part.score.is_some()),
    }
}

/// Where a score stands at `at` (DESIGN §2). A goal passes `None` when none of
/// its key results has data. The comparisons are the plain formulas
/// (`score >= 0.9 * required`), so a score computed as exactly 0.9 r is on
/// track even where 0.9 r is not the real number 0.9 × r.
pub fn status(
    score: Option<f64>,
    expected: f64,
    threshold: f64,
    at: DateTime<Utc>,
    deadline: DateTime<Utc>,
) -> Status {
    let Some(score) = score else {
        return Status::NoData;
    };
    if at >= deadline {
        return if score >= threshold {
            Status::Achieved
        } else {
            Status::Missed
        };
    }
    if score >= 1.0 {
        return Status::Achieved;
    }
    let required = threshold * expected;
    if required == 0.0 || score >= 0.9 * required {
        Status::OnTrack
    } else if score >= 0.6 * required {
        Status::AtRisk
    } else {
        Status::OffTrack
    }
}

/// The OKR colour of a score: red below 0.4, yellow below 0.7, green from 0.7.
pub fn grade(score: f64) -> Grade {
    if score < 0.4 {
        Grade::Red
    } else if score < 0.7 {
        Grade::Yellow
    } else {
        Grade::Green
    }
}

#[cfg(test)]
mod tests;
