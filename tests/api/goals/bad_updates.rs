//! Bad updates and names: every violation named at once, and nothing
//! changed.

use goalpost::pb;
use tonic::Code;

use super::{MISSING_GOAL, create_key_result_request, mask, metric_key_result, smart_goal, ts};
use crate::helpers::{assert_error, assert_violations, spawn_app};

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
            "an unknown path beside an ignored output-only one and a cleared title",
            pb::Goal {
                name: goal.name.clone(),
                ..Default::default()
            },
            mask(&["state", "colour", "title"]),
            vec!["update_mask.paths[1]"],
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
