//! Bad input: every violation named at once, with its field, and nothing
//! stored or changed.

use goalpost::pb;
use goalpost::pb::account::Network;
use goalpost::pb::key_result::{Checkpoint, Milestone, TargetMode};
use prost_types::Timestamp;
use tonic::Code;

use super::{
    MISSING_GOAL, START, create_goal_request, create_key_result_request, mask, metric_key_result,
    milestone_key_result, smart_goal, ts,
};
use crate::helpers::{assert_error, assert_violations, spawn_app};

const MISSING_ACCOUNT: &str = "accounts/0190b6f4-5e6b-7c1d-9a2e-3f4a5b6c7d8e";

#[tokio::test]
async fn bad_goals_are_rejected_with_every_violation_and_nothing_stored() {
    let app = spawn_app().await;
    let cases: Vec<(&str, pb::Goal, Vec<&str>)> = vec![
        (
            "an empty goal",
            pb::Goal::default(),
            vec!["goal.title", "goal.goal_type", "goal.framework"],
        ),
        (
            "a deadline before the start",
            pb::Goal {
                deadline: Some(ts("2026-12-31T00:00:00Z")),
                ..smart_goal()
            },
            vec!["goal.deadline"],
        ),
        (
            "a deadline equal to the start",
            pb::Goal {
                deadline: Some(ts(START)),
                ..smart_goal()
            },
            vec!["goal.deadline"],
        ),
        (
            "an over-long title",
            pb::Goal {
                title: "t".repeat(201),
                ..smart_goal()
            },
            vec!["goal.title"],
        ),
        (
            "a control character in the title and a NUL in the description",
            pb::Goal {
                title: "Grow\u{7} followers".into(),
                description: "a\0b".into(),
                ..smart_goal()
            },
            vec!["goal.title", "goal.description"],
        ),
        (
            "an unknown goal type number",
            pb::Goal {
                goal_type: 42,
                ..smart_goal()
            },
            vec!["goal.goal_type"],
        ),
        (
            "an over-long team and a zero success threshold",
            pb::Goal {
                team: "t".repeat(101),
                success_threshold: Some(0.0),
                ..smart_goal()
            },
            vec!["goal.team", "goal.success_threshold"],
        ),
        (
            "a success threshold above 1",
            pb::Goal {
                success_threshold: Some(1.5),
                ..smart_goal()
            },
            vec!["goal.success_threshold"],
        ),
        (
            "a malformed parent",
            pb::Goal {
                parent: "goals/nope".into(),
                ..smart_goal()
            },
            vec!["goal.parent"],
        ),
        (
            "a start time out of range",
            pb::Goal {
                start_time: Some(Timestamp {
                    seconds: 0,
                    nanos: -1,
                }),
                ..smart_goal()
            },
            vec!["goal.start_time"],
        ),
        (
            "a blank title, a deadline before the start and a missing parent at once",
            pb::Goal {
                title: "  ".into(),
                deadline: Some(ts("2026-01-01T00:00:00Z")),
                parent: MISSING_GOAL.into(),
                ..smart_goal()
            },
            vec!["goal.title", "goal.deadline", "goal.parent"],
        ),
    ];
    for (description, goal, fields) in cases {
        let error = app
            .goals()
            .create_goal(create_goal_request(goal))
            .await
            .unwrap_err();
        assert_violations(&error, &fields);
        assert!(
            app.goal_tables().await.is_empty(),
            "{description} stored something"
        );
    }
}

fn checkpoint(time: &str, target_value: f64) -> Checkpoint {
    Checkpoint {
        time: Some(ts(time)),
        target_value,
    }
}

#[tokio::test]
async fn bad_key_results_are_rejected_with_every_violation_and_nothing_stored() {
    let app = spawn_app().await;
    let account = app.create_account(Network::X, "acme").await;
    let goal = app.create_goal(smart_goal()).await;
    let metric = metric_key_result;
    let cases: Vec<(&str, pb::KeyResult, Vec<&str>)> = vec![
        (
            "an empty key result",
            pb::KeyResult::default(),
            vec!["key_result.title", "key_result.kind"],
        ),
        (
            "a target equal to the baseline",
            pb::KeyResult {
                target_value: Some(1000.0),
                ..metric()
            },
            vec!["key_result.target_value"],
        ),
        (
            "both a target value and a change percent",
            pb::KeyResult {
                target_change_percent: Some(10.0),
                ..metric()
            },
            vec!["key_result.target_change_percent"],
        ),
        (
            "neither a target value nor a change percent",
            pb::KeyResult {
                target_value: None,
                ..metric()
            },
            vec!["key_result.target_value"],
        ),
        (
            "a change below -100 percent",
            pb::KeyResult {
                target_value: None,
                target_change_percent: Some(-100.5),
                ..metric()
            },
            vec!["key_result.target_change_percent"],
        ),
        (
            "a change of zero percent",
            pb::KeyResult {
                target_value: None,
                target_change_percent: Some(0.0),
                ..metric()
            },
            vec!["key_result.target_change_percent"],
        ),
        (
            "an unknown metric",
            pb::KeyResult {
                metric_key: "telepathy".into(),
                ..metric()
            },
            vec!["key_result.metric_key"],
        ),
        (
            "a metric key with a NUL",
            pb::KeyResult {
                metric_key: "fol\0lowers".into(),
                ..metric()
            },
            vec!["key_result.metric_key"],
        ),
        (
            "a milestone key result with metric fields",
            pb::KeyResult {
                metric_key: "followers".into(),
                accounts: vec![String::new()],
                window_days: 7,
                target_mode: TargetMode::Reach as i32,
                target_value: Some(5.0),
                checkpoints: vec![checkpoint("2027-03-01T00:00:00Z", 3.0)],
                ..milestone_key_result(&["Step"])
            },
            vec![
                "key_result.metric_key",
                "key_result.accounts",
                "key_result.window_days",
                "key_result.target_mode",
                "key_result.target_value",
                "key_result.checkpoints",
            ],
        ),
        (
            "a milestone key result without milestones",
            milestone_key_result(&[]),
            vec!["key_result.milestones"],
        ),
        (
            "a milestone key result with 51 milestones",
            milestone_key_result(&["Step"; 51]),
            vec!["key_result.milestones"],
        ),
        (
            "a milestone with a blank title",
            milestone_key_result(&["Step", " "]),
            vec!["key_result.milestones[1].title"],
        ),
        (
            "a metric key result with milestones",
            pb::KeyResult {
                milestones: vec![Milestone {
                    title: "Step".into(),
                    ..Default::default()
                }],
                ..metric()
            },
            vec!["key_result.milestones"],
        ),
        (
            "a zero weight",
            pb::KeyResult {
                weight: Some(0.0),
                ..metric()
            },
            vec!["key_result.weight"],
        ),
        (
            "a negative weight",
            pb::KeyResult {
                weight: Some(-1.0),
                ..metric()
            },
            vec!["key_result.weight"],
        ),
        (
            "a NaN weight",
            pb::KeyResult {
                weight: Some(f64::NAN),
                ..metric()
            },
            vec!["key_result.weight"],
        ),
        (
            "a weight above 1000",
            pb::KeyResult {
                weight: Some(1000.5),
                ..metric()
            },
            vec!["key_result.weight"],
        ),
        (
            "a negative window",
            pb::KeyResult {
                window_days: -1,
                ..metric()
            },
            vec!["key_result.window_days"],
        ),
        (
            "a window over 3660 days",
            pb::KeyResult {
                window_days: 3661,
                ..metric()
            },
            vec!["key_result.window_days"],
        ),
        (
            "an unknown target mode",
            pb::KeyResult {
                target_mode: 9,
                ..metric()
            },
            vec!["key_result.target_mode"],
        ),
        (
            "an unknown and a malformed account",
            pb::KeyResult {
                accounts: vec!["accounts/x".into(), MISSING_ACCOUNT.into()],
                ..metric()
            },
            vec!["key_result.accounts[0]", "key_result.accounts[1]"],
        ),
        (
            "an account selected twice",
            pb::KeyResult {
                accounts: vec![account.name.clone(), String::new(), account.name.clone()],
                ..metric()
            },
            vec!["key_result.accounts[2]"],
        ),
        (
            "101 accounts",
            pb::KeyResult {
                accounts: vec![account.name.clone(); 101],
                ..metric()
            },
            vec!["key_result.accounts"],
        ),
        (
            "a baseline start without an end",
            pb::KeyResult {
                baseline_value: None,
                baseline_start: Some(ts("2026-01-01T00:00:00Z")),
                ..metric()
            },
            vec!["key_result.baseline_end"],
        ),
        (
            "a baseline end before its start",
            pb::KeyResult {
                baseline_value: None,
                baseline_start: Some(ts("2026-02-01T00:00:00Z")),
                baseline_end: Some(ts("2026-01-01T00:00:00Z")),
                ..metric()
            },
            vec!["key_result.baseline_end"],
        ),
        (
            "two checkpoints at the same time and one without a time",
            pb::KeyResult {
                checkpoints: vec![
                    checkpoint("2027-03-01T00:00:00Z", 1200.0),
                    checkpoint("2027-03-01T00:00:00Z", 1300.0),
                    Checkpoint {
                        time: None,
                        target_value: 1400.0,
                    },
                ],
                ..metric()
            },
            vec![
                "key_result.checkpoints[1].time",
                "key_result.checkpoints[2].time",
            ],
        ),
        (
            "values beyond 1e15",
            pb::KeyResult {
                baseline_value: Some(1e16),
                target_value: Some(-2e16),
                checkpoints: vec![checkpoint("2027-03-01T00:00:00Z", 1e300)],
                ..metric()
            },
            vec![
                "key_result.baseline_value",
                "key_result.target_value",
                "key_result.checkpoints[0].target_value",
            ],
        ),
        (
            "a zero weight, a negative window and an unknown metric at once",
            pb::KeyResult {
                weight: Some(0.0),
                window_days: -1,
                metric_key: "telepathy".into(),
                ..metric()
            },
            vec![
                "key_result.weight",
                "key_result.window_days",
                "key_result.metric_key",
            ],
        ),
    ];
    let before = app.goal_tables().await;
    for (description, key_result, fields) in cases {
        let error = app
            .goals()
            .create_key_result(create_key_result_request(&goal.name, key_result))
            .await
            .unwrap_err();
        assert_violations(&error, &fields);
        assert_eq!(
            app.goal_tables().await,
            before,
            "{description} stored something"
        );
    }
}

#[tokio::test]
async fn a_checkpoint_outside_an_active_goal_is_invalid_at_once() {
    let app = spawn_app().await;
    let goal = app.active_smart_goal().await;
    let before = app.goal_tables().await;
    let error = app
        .goals()
        .create_key_result(create_key_result_request(
            &goal.name,
            pb::KeyResult {
                checkpoints: vec![
                    checkpoint("2027-03-01T00:00:00Z", 1500.0),
                    checkpoint("2027-07-01T00:00:00Z", 1900.0),
                ],
                ..metric_key_result()
            },
        ))
        .await
        .unwrap_err();
    assert_violations(&error, &["key_result.checkpoints[1].time"]);
    let existing = &goal.key_results[0];
    let error = app
        .goals()
        .update_key_result(pb::UpdateKeyResultRequest {
            key_result: Some(pb::KeyResult {
                name: existing.name.clone(),
                checkpoints: vec![checkpoint("2026-12-01T00:00:00Z", 900.0)],
                ..Default::default()
            }),
            update_mask: mask(&["checkpoints"]),
        })
        .await
        .unwrap_err();
    assert_violations(&error, &["key_result.checkpoints[0].time"]);
    assert_eq!(app.goal_tables().await, before);
}

#[tokio::test]
async fn bad_updates_are_rejected_and_change_nothing() {
    let app = spawn_app().await;
    let goal = app.create_goal(smart_goal()).await;
    let key_result = app.create_key_result(&goal.name, metric_key_result()).await;
    let before = app.goal_tables().await;
    let mut client = app.goals();

    let goal_cases: Vec<(&str, pb::Goal, Option<prost_types::FieldMask>, Vec<&str>)> = vec![
        (
            "a deadline before the start",
            pb::Goal {
                name: goal.name.clone(),
                deadline: Some(ts("2026-06-01T00:00:00Z")),
                ..Default::default()
            },
            None,
            vec!["goal.deadline"],
        ),
        (
            "an unknown and an output-only path",
            pb::Goal {
                name: goal.name.clone(),
                ..Default::default()
            },
            mask(&["title", "colour", "state"]),
            vec!["update_mask.paths[1]", "update_mask.paths[2]"],
        ),
        (
            "a cleared title",
            pb::Goal {
                name: goal.name.clone(),
                ..Default::default()
            },
            mask(&["title"]),
            vec!["goal.title"],
        ),
        (
            "a malformed name",
            pb::Goal {
                name: "goals/x".into(),
                ..Default::default()
            },
            None,
            vec!["goal.name"],
        ),
    ];
    for (description, changes, update_mask, fields) in goal_cases {
        let error = client
            .update_goal(pb::UpdateGoalRequest {
                goal: Some(changes),
                update_mask,
            })
            .await
            .unwrap_err();
        assert_violations(&error, &fields);
        assert_eq!(app.goal_tables().await, before, "{description}");
    }

    let key_result_cases: Vec<(
        &str,
        pb::KeyResult,
        Option<prost_types::FieldMask>,
        Vec<&str>,
    )> = vec![
        (
            "a NaN weight",
            pb::KeyResult {
                name: key_result.name.clone(),
                weight: Some(f64::NAN),
                ..Default::default()
            },
            None,
            vec!["key_result.weight"],
        ),
        (
            "a cleared metric key and target",
            pb::KeyResult {
                name: key_result.name.clone(),
                ..Default::default()
            },
            mask(&["metric_key", "target_value"]),
            vec!["key_result.metric_key", "key_result.target_value"],
        ),
        (
            "a target moved onto the baseline",
            pb::KeyResult {
                name: key_result.name.clone(),
                target_value: Some(1000.0),
                ..Default::default()
            },
            None,
            vec!["key_result.target_value"],
        ),
    ];
    for (description, changes, update_mask, fields) in key_result_cases {
        let error = client
            .update_key_result(pb::UpdateKeyResultRequest {
                key_result: Some(changes),
                update_mask,
            })
            .await
            .unwrap_err();
        assert_violations(&error, &fields);
        assert_eq!(app.goal_tables().await, before, "{description}");
    }
}

#[tokio::test]
async fn malformed_names_are_invalid_and_unknown_ones_not_found() {
    let app = spawn_app().await;
    let goal = app.create_goal(smart_goal()).await;
    let mut client = app.goals();
    for name in [
        "",
        "goals/nope",
        "accounts/0190b6f4-5e6b-7c1d-9a2e-3f4a5b6c7d8e",
    ] {
        let error = client
            .get_goal(pb::GetGoalRequest { name: name.into() })
            .await
            .unwrap_err();
        assert_violations(&error, &["name"]);
    }
    let error = client
        .get_goal(pb::GetGoalRequest {
            name: MISSING_GOAL.into(),
        })
        .await
        .unwrap_err();
    assert_error(&error, Code::NotFound, "GOAL_NOT_FOUND");

    for name in [goal.name.clone(), format!("{}/keyResults/x", goal.name)] {
        let error = client
            .get_key_result(pb::GetKeyResultRequest { name })
            .await
            .unwrap_err();
        assert_violations(&error, &["name"]);
    }
    let missing = format!(
        "{}/keyResults/0190b6f4-5e6b-7c1d-9a2e-3f4a5b6c7d8e",
        goal.name
    );
    let error = client
        .get_key_result(pb::GetKeyResultRequest { name: missing })
        .await
        .unwrap_err();
    assert_error(&error, Code::NotFound, "KEY_RESULT_NOT_FOUND");

    let error = client
        .create_key_result(create_key_result_request(MISSING_GOAL, metric_key_result()))
        .await
        .unwrap_err();
    assert_error(&error, Code::NotFound, "GOAL_NOT_FOUND");
    let error = client
        .create_key_result(create_key_result_request(
            "goals/x",
            pb::KeyResult::default(),
        ))
        .await
        .unwrap_err();
    assert_violations(&error, &["parent", "key_result.title", "key_result.kind"]);
}
