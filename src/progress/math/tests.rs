//! The rules of DESIGN §2 case by case, the worked examples to the digit,
//! and properties that hold for any input.

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
