//! The progress math of DESIGN §2 as small pure functions: targets, progress,
//! scores, expected scores, goal scores, statuses and grades.
//!
//! Nothing here knows about storage or protobuf. `None` always means "no
//! data" and is never folded into 0 here; only the goal score counts a key
//! result without data as 0, because the contract says so.

use chrono::{DateTime, Utc};

use crate::catalog::Better;
use crate::goals::model::{Checkpoint, TargetMode, TargetSpec};

/// Nanoseconds in one day, for exact day arithmetic on timestamps.
const NANOS_PER_DAY: i128 = 86_400 * 1_000_000_000;

/// Where a goal or key result stands against what is expected of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Nothing to judge: the key result has no current value, or no key result of the goal has.
    NoData,
    /// Before the deadline, with nothing required yet or at least 0.9 of the required score.
    OnTrack,
    /// Before the deadline, with 0.6 or more, but less than 0.9, of the required score.
    AtRisk,
    /// Before the deadline, with less than 0.6 of the required score.
    OffTrack,
    /// A full score before the deadline, or the success threshold met from the deadline on.
    Achieved,
    /// The success threshold not met at or after the deadline.
    Missed,
}

/// The OKR colour of a score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Grade {
    /// A score under 0.4.
    Red,
    /// A score of 0.4 or more but under 0.7.
    Yellow,
    /// A score of 0.7 or more.
    Green,
}

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
mod tests {
    use super::*;
    use crate::goals::model::Framework;
    use Better::{Higher, Lower};
    use TargetMode::{AtLeast, AtMost, Reach};
    use chrono::TimeDelta;
    use proptest::prelude::*;

    /// Stands for "no data" in the tables, so that each row fits on one line.
    const NO: f64 = f64::NAN;

    fn data(value: f64) -> Option<f64> {
        (!value.is_nan()).then_some(value)
    }
    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }
    fn day(n: f64) -> DateTime<Utc> {
        utc("2026-01-01T00:00:00Z") + TimeDelta::seconds((n * 86_400.0) as i64)
    }
    fn period(start: f64, deadline: f64) -> Period {
        let (start, deadline) = (day(start), day(deadline));
        Period { start, deadline }
    }
    fn checkpoint(n: f64, value: f64) -> Checkpoint {
        let time = day(n);
        Checkpoint {
            time,
            target_value: value,
        }
    }
    fn weighted(rows: &[(f64, f64)]) -> Vec<WeightedScore> {
        let scores = rows.iter().map(|&(weight, score)| (weight, data(score)));
        let part = |(weight, score)| WeightedScore { weight, score };
        scores.map(part).collect()
    }

    #[test]
    fn worked_example_a_smart_decrease_is_on_track() {
        let start = utc("2025-01-01T00:00:00Z");
        let deadline = utc("2025-07-01T00:00:00Z");
        let at = utc("2025-04-01T00:00:00Z");
        let goal = target(TargetSpec::ChangePercent(-20.0), Some(50.0));
        assert_eq!(goal, Some(40.0));
        assert_eq!(progress(Some(50.0), Some(45.0), goal), Some(0.5));
        assert_eq!(score(Reach, Lower, Some(50.0), Some(45.0), goal), Some(0.5));
        let expected = time_fraction(Period { start, deadline }, at);
        assert_eq!(expected, 90.0 / 181.0);
        assert!((expected - 0.49724).abs() < 5e-6);
        let success = Framework::Smart.default_success_threshold();
        let verdict = status(Some(0.5), expected, success, at, deadline);
        assert_eq!(verdict, Status::OnTrack);
    }

    #[test]
    fn worked_example_b_okr_is_yellow_and_on_track() {
        let (at, deadline, success) = (
            day(90.0),
            day(180.0),
            Framework::Okr.default_success_threshold(),
        );
        let expected = time_fraction(period(0.0, 180.0), at);
        assert_eq!((expected, success), (0.5, 0.7));
        let verdict = |score| status(score, expected, success, at, deadline);
        let followers = score(Reach, Higher, Some(1000.0), Some(1700.0), Some(2000.0));
        assert_eq!(followers, Some(0.7));
        assert_eq!(verdict(followers), Status::OnTrack);
        let milestones = milestone_score(&[Some(day(10.0)), Some(at), None], at);
        assert_eq!(milestones, 2.0 / 3.0);
        let cpc_progress = progress(Some(0.8), Some(0.55), Some(0.5)).unwrap();
        assert!((cpc_progress - 0.8333).abs() < 5e-5);
        let cpc = score(AtMost, Lower, Some(0.8), Some(0.55), Some(0.5));
        assert_eq!((cpc, verdict(cpc)), (Some(0.0), Status::OffTrack));
        let goal = goal_score(&weighted(&[(1.0, 0.7), (1.0, milestones), (1.0, 0.0)]));
        assert!((goal.score - 0.455_555_555).abs() < 1e-5);
        assert!(goal.complete && goal.any_data);
        assert_eq!(grade(goal.score), Grade::Yellow);
        assert_eq!(verdict(Some(goal.score)), Status::OnTrack);
    }

    #[test]
    fn a_relative_target_without_a_baseline_has_no_data() {
        let relative = |percent, baseline| target(TargetSpec::ChangePercent(percent), baseline);
        assert_eq!(relative(10.0, None), None);
        assert_eq!(relative(50.0, Some(0.8)), Some(1.2));
        assert_eq!(target(TargetSpec::Value(7.0), None), Some(7.0));
    }

    #[test]
    fn progress_and_score_follow_the_target_mode() {
        // [baseline, current, target] → progress, score
        #[rustfmt::skip]
        let cases = [
            ("halfway up",                  Reach,   Higher, [10.0, 15.0, 20.0],   0.5,  0.5),
            ("a current of zero is data",   Reach,   Higher, [10.0, 0.0, 20.0],   -1.0,  0.0),
            ("beyond the target",           Reach,   Higher, [0.0, 125.0, 100.0],  1.25, 1.0),
            ("the wrong way on a decrease", Reach,   Lower,  [50.0, 55.0, 40.0],  -0.5,  0.0),
            ("a decrease reached exactly",  Reach,   Lower,  [0.8, 0.64, 0.64],    1.0,  1.0),
            ("an increase reached exactly", Reach,   Higher, [0.1, 0.3, 0.3],      1.0,  1.0),
            ("reach needs a baseline",      Reach,   Higher, [NO, 5.0, 10.0],      NO,   NO),
            ("no current",                  AtLeast, Higher, [1.0, NO, 5.0],       NO,   NO),
            ("no target",                   AtMost,  Lower,  [1.0, 1.0, NO],       NO,   NO),
            ("a flat target met upward",    Reach,   Higher, [5.0, 6.0, 5.0],      NO,   1.0),
            ("a flat target hit exactly",   Reach,   Lower,  [5.0, 5.0, 5.0],      NO,   1.0),
            ("a flat target missed upward", Reach,   Higher, [5.0, 4.0, 5.0],      NO,   0.0),
            ("a flat target met downward",  Reach,   Lower,  [5.0, 4.0, 5.0],      NO,   1.0),
            ("a flat target missed down",   Reach,   Lower,  [5.0, 6.0, 5.0],      NO,   0.0),
            ("at least is inclusive",       AtLeast, Higher, [NO, 5.0, 5.0],       NO,   1.0),
            ("at least below the target",   AtLeast, Higher, [4.0, 4.5, 5.0],      0.5,  0.0),
            ("at most is inclusive",        AtMost,  Lower,  [NO, 0.5, 0.5],       NO,   1.0),
            ("at most above the target",    AtMost,  Lower,  [1.0, 0.75, 0.5],     0.5,  0.0),
        ];
        for (case, mode, better, [baseline, current, goal], want_progress, want_score) in cases {
            let (baseline, current, goal) = (data(baseline), data(current), data(goal));
            let got = progress(baseline, current, goal);
            assert_eq!(got, data(want_progress), "{case}");
            let got = score(mode, better, baseline, current, goal);
            assert_eq!(got, data(want_score), "{case}");
        }
    }

    #[test]
    fn time_fraction_is_clamped_and_handles_zero_length_periods() {
        #[rustfmt::skip]
        let cases = [
            ("before the start",                 0.0, 10.0, -1.0, 0.0),
            ("at the start",                     0.0, 10.0, 0.0,  0.0),
            ("within the period",                0.0, 10.0, 4.0,  0.4),
            ("at the deadline",                  0.0, 10.0, 10.0, 1.0),
            ("after the deadline",               0.0, 10.0, 11.0, 1.0),
            ("before an empty period",           5.0, 5.0,  4.0,  0.0),
            ("at an empty period",               5.0, 5.0,  5.0,  1.0),
            ("between a reversed period's ends", 5.0, 3.0,  4.0,  1.0),
            ("before a reversed period",         5.0, 3.0,  2.0,  0.0),
        ];
        for (case, start, deadline, at, want) in cases {
            let got = time_fraction(period(start, deadline), day(at));
            assert_eq!(got, want, "{case}");
        }
        assert_eq!(days_between(day(3.0), day(1.5)), -1.5);
    }

    #[test]
    fn expected_value_runs_through_every_checkpoint() {
        let checkpoints = [checkpoint(10.0, 30.0), checkpoint(20.0, 30.0)];
        #[rustfmt::skip]
        let cases = [
            ("before the start", -5.0, 0.0),   ("at the start", 0.0, 0.0),
            ("before a checkpoint", 5.0, 15.0), ("at a checkpoint", 10.0, 30.0),
            ("between flat checkpoints", 15.0, 30.0), ("after the last checkpoint", 25.0, 65.0),
            ("at the deadline", 30.0, 100.0),  ("after the deadline", 40.0, 100.0),
        ];
        for (case, at, want) in cases {
            let got = expected_value(period(0.0, 30.0), 0.0, &checkpoints, 100.0, day(at));
            assert_eq!(got, want, "{case}");
        }
        let outside = [checkpoint(-1.0, 999.0), checkpoint(30.0, 999.0)];
        let got = expected_value(period(0.0, 30.0), 0.0, &outside, 90.0, day(10.0));
        assert_eq!(got, 30.0);
    }

    #[test]
    fn key_result_expected_follows_checkpoints_else_time() {
        #[rustfmt::skip]
        let cases = [
            ("a checkpoint ahead of time", [0.0, 100.0], vec![checkpoint(10.0, 80.0)],  0.8),
            ("a decreasing checkpoint",    [100.0, 0.0], vec![checkpoint(10.0, 20.0)],  0.8),
            ("a checkpoint overshoots",    [0.0, 100.0], vec![checkpoint(10.0, 150.0)], 1.0),
            ("no checkpoints",             [0.0, 100.0], vec![],                        0.1),
            ("no baseline",                [NO, 100.0],  vec![checkpoint(10.0, 80.0)],  0.1),
            ("no target",                  [0.0, NO],    vec![checkpoint(10.0, 80.0)],  0.1),
            ("target equals baseline",     [5.0, 5.0],   vec![checkpoint(10.0, 80.0)],  0.1),
        ];
        for (case, [baseline, goal], checkpoints, want) in cases {
            let (baseline, goal, frame) = (data(baseline), data(goal), period(0.0, 100.0));
            let got = key_result_expected(frame, day(10.0), baseline, goal, &checkpoints);
            assert_eq!(got, want, "{case}");
        }
    }

    #[test]
    fn milestones_count_when_done_at_or_before_the_moment() {
        let done = [Some(day(-3.0)), Some(day(5.0)), Some(day(6.0)), None];
        let count = milestones_done(&done, day(5.0));
        assert_eq!(count, MilestoneCount { done: 2, total: 4 });
        assert_eq!(milestone_score(&done, day(5.0)), 0.5);
        assert_eq!(milestone_score(&done, day(4.0)), 0.25);
        assert_eq!(milestone_score(&[], day(4.0)), 0.0);
    }

    #[test]
    fn goal_score_weighs_key_results_and_counts_missing_data_as_zero() {
        #[rustfmt::skip]
        let cases = [
            ("weights count",             vec![(3.0, 1.0), (1.0, 0.0)], 0.75, true,  true),
            ("missing data counts zero",  vec![(1.0, 1.0), (1.0, NO)],  0.5,  false, true),
            ("no key result has data",    vec![(1.0, NO)],              0.0,  false, false),
            ("no key results",            vec![],                       0.0,  false, false),
            ("zero weights count evenly", vec![(0.0, 1.0), (0.0, 0.5)], 0.75, true,  true),
        ];
        for (case, rows, score, complete, any_data) in cases {
            let got = goal_score(&weighted(&rows));
            let got = (got.score, got.complete, got.any_data);
            assert_eq!(got, (score, complete, any_data), "{case}");
        }
    }

    #[test]
    fn status_boundaries_follow_the_required_score() {
        let (on_track, at_risk) = (0.9 * (0.7 * 0.5), 0.6 * (0.7 * 0.5));
        // score, expected, day evaluated → status; s = 0.7, deadline on day 1
        #[rustfmt::skip]
        let cases = [
            ("no data",                          NO,                   0.5, 0.0, Status::NoData),
            ("score one early",                  1.0,                  0.5, 0.0, Status::Achieved),
            ("exactly 0.9 r",                    on_track,             0.5, 0.0, Status::OnTrack),
            ("just below 0.9 r",                 on_track.next_down(), 0.5, 0.0, Status::AtRisk),
            ("exactly 0.6 r",                    at_risk,              0.5, 0.0, Status::AtRisk),
            ("just below 0.6 r",                 at_risk.next_down(),  0.5, 0.0, Status::OffTrack),
            ("nothing required yet",             0.0,                  0.0, 0.0, Status::OnTrack),
            ("threshold met at the deadline",    0.7,                  1.0, 1.0, Status::Achieved),
            ("threshold missed at the deadline", 0.69,                 1.0, 1.0, Status::Missed),
            ("missed after the deadline",        0.0,                  0.0, 2.0, Status::Missed),
            ("no data after the deadline",       NO,                   1.0, 2.0, Status::NoData),
        ];
        for (case, score, expected, at, want) in cases {
            let got = status(data(score), expected, 0.7, day(at), day(1.0));
            assert_eq!(got, want, "{case}");
        }
    }

    #[test]
    fn grade_boundaries_belong_to_the_higher_colour() {
        let (red, yellow) = (0.4f64.next_down(), 0.7f64.next_down());
        #[rustfmt::skip]
        let cases = [(0.0, Grade::Red), (red, Grade::Red), (0.4, Grade::Yellow),
                     (yellow, Grade::Yellow), (0.7, Grade::Green), (1.0, Grade::Green)];
        for (score, want) in cases {
            assert_eq!(grade(score), want, "{score}");
        }
    }

    fn flip(better: Better) -> Better {
        if better == Higher { Lower } else { Higher }
    }
    fn any_better() -> impl Strategy<Value = Better> {
        prop_oneof![Just(Higher), Just(Lower)]
    }
    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![-1e6..1e6f64, (-100i32..100).prop_map(f64::from)]
    }

    proptest! {
        #[test]
        fn mirroring_an_increase_into_a_decrease_keeps_score_and_progress(
            b in value(), c in value(), t in value(), better in any_better()
        ) {
            let (b, c, t, mb, mc, mt) = (Some(b), Some(c), Some(t), Some(-b), Some(-c), Some(-t));
            prop_assert_eq!(progress(b, c, t), progress(mb, mc, mt));
            prop_assert_eq!(score(Reach, better, b, c, t), score(Reach, flip(better), mb, mc, mt));
            prop_assert_eq!(score(AtLeast, better, b, c, t), score(AtMost, flip(better), mb, mc, mt));
        }

        #[test]
        fn score_always_lies_in_zero_to_one(
            mode in prop_oneof![Just(Reach), Just(AtLeast), Just(AtMost)],
            better in any_better(), b in value(), c in value(), t in value()
        ) {
            let got = score(mode, better, Some(b), Some(c), Some(t)).unwrap();
            prop_assert!((0.0..=1.0).contains(&got));
        }

        #[test]
        fn goal_score_lies_between_its_lowest_and_highest_key_result(
            rows in prop::collection::vec((0.0..10.0f64, prop_oneof![Just(NO), 0.0..=1.0f64]), 1..8)
        ) {
            let counted: Vec<f64> = rows.iter().map(|(_, score)| data(*score).unwrap_or(0.0)).collect();
            let goal = goal_score(&weighted(&rows)).score;
            prop_assert!(counted.iter().any(|s| *s <= goal) && counted.iter().any(|s| *s >= goal));
        }

        #[test]
        fn time_fraction_lies_in_zero_to_one_and_never_falls(
            start in -1e4..1e4f64, length in -1e3..1e4f64, at in -2e4..2e4f64, step in 0.0..1e4f64
        ) {
            let p = period(start, start + length);
            let (earlier, later) = (time_fraction(p, day(at)), time_fraction(p, day(at + step)));
            prop_assert!((0.0..=1.0).contains(&earlier) && (0.0..=1.0).contains(&later));
            prop_assert!(earlier <= later);
        }
    }
}
