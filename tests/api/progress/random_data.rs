//! Progress over random data, checked against values computed here from the
//! rows written (DESIGN §1–2) rather than against hand-worked numbers. The
//! data mixes what takes the read path's special ways: values stamped
//! exactly at midnight and a microsecond either side, days an account skips,
//! organisation-wide series, corrections of earlier values. The moments mix
//! random mid-day ones, midnights and a microsecond either side, and the
//! instants values were stamped at. So rollup days, raw edges, organisation
//! rollups, LAST from days and from cuts, and derived metrics are all held
//! to the same independent answer.

use chrono::{DateTime, TimeDelta, Utc};
use goalpost::pb;
use goalpost::pb::account::Network;
use goalpost::pb::metric_definition::Aggregation;

use super::{assert_close, goal, goal_client, progress_client};
use crate::helpers::{TestApp, spawn_app};
use crate::metrics::{base_metric, create_metric, derived_metric, term};
use crate::observations::{Ratio, expected_base, expected_ratio, observed, time_of, ts, write};

/// A small deterministic generator (splitmix64): the same data every run,
/// so a failure can be replayed.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const FIRST_DAY: &str = "2026-03-01T00:00:00Z";
const DAYS: i64 = 9;

/// The metrics read, each with how the test computes it.
enum Computed {
    Base(&'static str, Aggregation),
    Derived(&'static Ratio),
}

const MEAN_OVER_PEAK: Ratio = Ratio {
    numerator: &[("mood", 1.0, Aggregation::Avg)],
    denominator: &[("peak", 1.0, Aggregation::Max)],
    scale: 1.0,
};

const ENGAGEMENT: Ratio = Ratio {
    numerator: &[("likes", 1.0, Aggregation::Sum)],
    denominator: &[("followers", 1.0, Aggregation::Last)],
    scale: 100.0,
};

fn metric_of(key: &str) -> Computed {
    match key {
        "likes" => Computed::Base("likes", Aggregation::Sum),
        "followers" => Computed::Base("followers", Aggregation::Last),
        "peak" => Computed::Base("peak", Aggregation::Max),
        "mood" => Computed::Base("mood", Aggregation::Avg),
        "likes_per_follower" => Computed::Derived(&ENGAGEMENT),
        "mood_over_peak" => Computed::Derived(&MEAN_OVER_PEAK),
        other => panic!("{other} is not read here"),
    }
}

/// The value of `metric_key` over `[start, end)` and `accounts`.
fn expected(
    rows: &[pb::Observation],
    metric_key: &str,
    accounts: &[&str],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Option<f64> {
    match metric_of(metric_key) {
        Computed::Base(key, aggregation) => {
            expected_base(rows, key, aggregation, accounts, start, end)
        }
        Computed::Derived(ratio) => expected_ratio(rows, ratio, accounts, start, end),
    }
}

/// A stamp on `day`: often exactly midnight or a microsecond either side
/// of one, else any second of the day.
fn stamp(random: &mut Random, day: i64) -> DateTime<Utc> {
    let midnight = FIRST_DAY.parse::<DateTime<Utc>>().unwrap() + TimeDelta::days(day);
    let micro = TimeDelta::microseconds(1);
    match random.below(6) {
        0 => midnight,
        1 => midnight + micro,
        2 => midnight + TimeDelta::days(1) - micro,
        3 => midnight + TimeDelta::hours(12),
        _ => midnight + TimeDelta::seconds(random.below(86_400) as i64),
    }
}

/// Random observations of the base metrics by `accounts` ("" being the
/// organisation-wide series), each account skipping some days; then a
/// batch correcting some of them.
fn random_rows(
    random: &mut Random,
    accounts: &[String],
) -> (Vec<pb::Observation>, Vec<pb::Observation>) {
    let mut rows = Vec::new();
    for metric_key in ["likes", "followers", "peak", "mood"] {
        for account in accounts {
            let mut followers = 100 + random.below(900) as i64;
            for day in 0..DAYS {
                if random.chance(30) {
                    continue;
                }
                for _ in 0..1 + random.below(3) {
                    followers += random.below(21) as i64 - 5;
                    let value = match metric_key {
                        "followers" => followers as f64,
                        _ => random.below(50) as f64 + 1.0,
                    };
                    rows.push(pb::Observation {
                        metric_key: metric_key.to_owned(),
                        account: account.clone(),
                        observed_at: Some(ts(stamp(random, day))),
                        value,
                        source: "random".into(),
                        recorded_at: None,
                        recorded_by: String::new(),
                    });
                }
            }
        }
    }
    let corrections = rows
        .iter()
        .filter(|_| random.chance(15))
        .map(|row| pb::Observation {
            value: row.value + 7.0,
            ..row.clone()
        })
        .collect();
    (rows, corrections)
}

/// The moments to evaluate at: every midnight of the data and a microsecond
/// either side, the instants some values were stamped at, and random ones.
fn moments(random: &mut Random, rows: &[pb::Observation]) -> Vec<DateTime<Utc>> {
    let first: DateTime<Utc> = FIRST_DAY.parse().unwrap();
    let micro = TimeDelta::microseconds(1);
    let mut moments = Vec::new();
    for day in 1..=DAYS {
        let midnight = first + TimeDelta::days(day);
        moments.extend([midnight - micro, midnight, midnight + micro]);
    }
    for _ in 0..12 {
        moments.push(observed(&rows[random.below(rows.len() as u64) as usize]));
        moments.push(first + TimeDelta::seconds(random.below(DAYS as u64 * 86_400) as i64));
    }
    moments
}

/// A key result of `metric_key` over `accounts` with a trailing window of
/// `window_days` (0: cumulative) and its baseline read from data.
struct Shape {
    metric_key: &'static str,
    accounts: Vec<String>,
    window_days: i32,
    baseline_range: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

async fn write_all(app: &TestApp, rows: &[pb::Observation]) {
    for chunk in rows.chunks(1_000) {
        write(app, chunk.to_vec())
            .await
            .expect("write observations");
    }
}

async fn add_key_result(app: &TestApp, goal: &pb::Goal, shape: &Shape) {
    let (baseline_start, baseline_end) = match shape.baseline_range {
        Some((start, end)) => (Some(ts(start)), Some(ts(end))),
        None => (None, None),
    };
    goal_client(app)
        .create_key_result(pb::CreateKeyResultRequest {
            parent: goal.name.clone(),
            key_result: Some(pb::KeyResult {
                title: format!("Move {}", shape.metric_key),
                kind: pb::key_result::Kind::Metric as i32,
                metric_key: shape.metric_key.to_owned(),
                accounts: shape.accounts.clone(),
                window_days: shape.window_days,
                target_mode: pb::key_result::TargetMode::AtLeast as i32,
                target_value: Some(1e6),
                baseline_start,
                baseline_end,
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("create a key result");
}

/// Asserts a value the service gave equals the one computed here.
#[track_caller]
fn assert_same(found: Option<f64>, want: Option<f64>, what: &str) {
    match (found, want) {
        (None, None) => {}
        (Some(found), Some(want)) => assert_close(found, want, what),
        _ => panic!("{what}: found {found:?}, expected {want:?}"),
    }
}

/// The data and goals of one seed: a fresh service holding random rows
/// and goals whose key results cover every metric, selection and window.
struct Fixture {
    app: TestApp,
    rows: Vec<pb::Observation>,
    goals: Vec<(pb::Goal, Vec<Shape>)>,
    random: Random,
}

const START: &str = "2026-03-03T07:30:00Z";
const DEADLINE: &str = "2026-03-20T00:00:00Z";

async fn fixture(seed: u64) -> Fixture {
    let app = spawn_app().await;
    for (key, aggregation) in [("peak", Aggregation::Max), ("mood", Aggregation::Avg)] {
        create_metric(&app, base_metric(key, aggregation)).await;
    }
    let ratio = |key: &str, over: &str, by: &str, scale: f64| {
        derived_metric(key, vec![term(over, 1.0)], vec![term(by, 1.0)], scale)
    };
    create_metric(
        &app,
        ratio("likes_per_follower", "likes", "followers", 100.0),
    )
    .await;
    create_metric(&app, ratio("mood_over_peak", "mood", "peak", 1.0)).await;
    let mut accounts = Vec::new();
    for handle in ["north", "south", "east"] {
        accounts.push(app.create_account(Network::Instagram, handle).await.name);
    }
    let mut random = Random(seed);
    let mut writers = accounts.clone();
    writers.push(String::new());
    let (rows, corrections) = random_rows(&mut random, &writers);
    write_all(&app, &rows).await;
    write_all(&app, &corrections).await;
    let rows: Vec<pb::Observation> = rows.into_iter().chain(corrections).collect();

    let selections: Vec<Vec<String>> = vec![
        Vec::new(),
        vec![accounts[0].clone()],
        vec![accounts[0].clone(), accounts[2].clone(), String::new()],
    ];
    let mut shapes = Vec::new();
    for metric_key in [
        "likes",
        "followers",
        "peak",
        "mood",
        "likes_per_follower",
        "mood_over_peak",
    ] {
        for (index, selection) in selections.iter().enumerate() {
            let baseline_range = (index == 2).then(|| {
                let from = "2026-03-01T13:00:00Z".parse().unwrap();
                (from, from + TimeDelta::hours(30))
            });
            shapes.push(Shape {
                metric_key,
                accounts: selection.clone(),
                window_days: [0, 1, 3][random.below(3) as usize],
                baseline_range,
            });
        }
    }
    let mut goals = Vec::new();
    let mut shapes = shapes.into_iter().peekable();
    while shapes.peek().is_some() {
        let batch: Vec<Shape> = shapes.by_ref().take(4).collect();
        let title = format!("Random goal {}", goals.len());
        let created = super::create_goal(
            &app,
            goal(&title, pb::goal::Framework::Okr, START, DEADLINE),
        )
        .await;
        for shape in &batch {
            add_key_result(&app, &created, shape).await;
        }
        goals.push((created, batch));
    }
    Fixture {
        app,
        rows,
        goals,
        random,
    }
}

async fn progress(app: &TestApp, goal: &pb::Goal, moment: DateTime<Utc>) -> pb::GoalProgress {
    super::progress_at_timestamp(app, goal, ts(moment)).await
}

/// Each key result's current value and baseline at each moment, against
/// the values computed from the rows.
async fn check_against_rows(mut fixture: Fixture) {
    let start: DateTime<Utc> = START.parse().unwrap();
    let micro = TimeDelta::microseconds(1);
    let rows = &fixture.rows;
    for moment in moments(&mut fixture.random, rows) {
        for (goal, batch) in &fixture.goals {
            let answer = progress(&fixture.app, goal, moment).await;
            for (shape, found) in batch.iter().zip(&answer.key_results) {
                let selected: Vec<&str> = shape.accounts.iter().map(String::as_str).collect();
                let what = format!(
                    "{} over {:?}, window {} days, at {moment}",
                    shape.metric_key, selected, shape.window_days
                );
                let over = |from, to| expected(rows, shape.metric_key, &selected, from, to);
                let window_start = if shape.window_days == 0 {
                    start
                } else {
                    moment - TimeDelta::days(shape.window_days.into()) + micro
                };
                let current = over(window_start, moment + micro);
                assert_same(found.current, current, &format!("current of {what}"));
                let baseline = match (shape.baseline_range, shape.window_days) {
                    (Some((from, to)), _) => over(from, to + micro),
                    (None, 0) => Some(0.0),
                    (None, days) => {
                        over(start - TimeDelta::days(days.into()) + micro, start + micro)
                    }
                };
                assert_same(found.baseline, baseline, &format!("baseline of {what}"));
            }
        }
    }
}

#[tokio::test]
async fn progress_over_random_data_equals_values_computed_from_the_rows() {
    for seed in [0x005e_ed0f_da7a, 7, 2026] {
        check_against_rows(fixture(seed).await).await;
    }
}

#[tokio::test]
async fn histories_and_reports_over_random_data_equal_single_answers() {
    let fixture = fixture(11).await;
    let app = &fixture.app;
    // Hourly steps cut days at every hour; daily ones at midnights, where
    // values were stamped.
    for (start, end, interval) in [
        (
            "2026-03-04T00:00:00Z",
            "2026-03-05T12:00:00Z",
            pb::Interval::Hour,
        ),
        (
            "2026-03-03T00:00:00Z",
            "2026-03-12T00:00:00Z",
            pb::Interval::Day,
        ),
    ] {
        for (goal, _) in &fixture.goals {
            let history = progress_client(app)
                .get_progress_history(pb::GetProgressHistoryRequest {
                    goal: goal.name.clone(),
                    start: Some(super::at(start)),
                    end: Some(super::at(end)),
                    interval: interval as i32,
                })
                .await
                .expect("history")
                .into_inner();
            assert!(history.steps.len() > 9, "{interval:?} steps");
            for step in &history.steps {
                let moment = time_of(step.time.as_ref().expect("a step's time"));
                let single = progress(app, goal, moment).await;
                let what = format!("{} at {moment}", goal.title);
                assert_eq!(step.score, single.score, "score of {what}");
                let scores = |key_results: &[pb::KeyResultHistoryStep]| {
                    key_results
                        .iter()
                        .map(|key_result| key_result.score)
                        .collect::<Vec<_>>()
                };
                let single_scores: Vec<Option<f64>> = single
                    .key_results
                    .iter()
                    .map(|key_result| key_result.score)
                    .collect();
                assert_eq!(
                    scores(&step.key_results),
                    single_scores,
                    "key results of {what}"
                );
            }
        }
    }
    for moment in ["2026-03-06T00:00:00Z", "2026-03-07T16:20:00.000001Z"] {
        let report = progress_client(app)
            .list_goal_progress(pb::ListGoalProgressRequest {
                page_size: 100,
                as_of: Some(super::at(moment)),
                ..Default::default()
            })
            .await
            .expect("a report")
            .into_inner();
        assert_eq!(report.goal_progress.len(), fixture.goals.len());
        for listed in &report.goal_progress {
            let (goal, _) = fixture
                .goals
                .iter()
                .find(|(goal, _)| goal.name == listed.goal)
                .expect("a listed goal is one of the fixture's");
            let single = progress(app, goal, moment.parse().unwrap()).await;
            assert_eq!(*listed, single, "{} in the report at {moment}", goal.title);
        }
    }
}
