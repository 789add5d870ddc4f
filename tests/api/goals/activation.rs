//! Activation and closing: the framework checks, the fixed fields of an
//! active goal, its time frame, and a closed goal frozen.

use goalpost::pb;
use goalpost::pb::goal::{Framework, State};
use tonic::Code;
use tonic_types::StatusExt;

use super::{DEADLINE, mask, metric_key_result, milestone_key_result, okr_goal, smart_goal, ts};
use crate::helpers::{assert_error, assert_violations, precondition_types, spawn_app};

#[tokio::test]
async fn a_smart_goal_is_activated_then_closed_and_frozen() {
    let app = spawn_app().await;
    let draft = app
        .create_goal(pb::Goal {
            start_time: None,
            ..smart_goal()
        })
        .await;
    app.create_key_result(&draft.name, metric_key_result())
        .await;
    let before = chrono::Utc::now().timestamp();
    let active = app.activate_goal(&draft.name).await.unwrap();
    assert_eq!(active.state, State::Active as i32);
    let start = active.start_time.expect("activation sets the start");
    assert!(
        start.seconds >= before - 1,
        "the start is the moment of activation"
    );
    assert_eq!(
        app.activate_goal(&draft.name).await.unwrap(),
        active,
        "activating an active goal returns it unchanged"
    );

    let mut client = app.goals();
    let fixed = client
        .update_goal(pb::UpdateGoalRequest {
            goal: Some(pb::Goal {
                name: draft.name.clone(),
                framework: Framework::Okr as i32,
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .unwrap_err();
    assert_error(&fixed, Code::FailedPrecondition, "GOAL_NOT_DRAFT");
    let undeletable = client
        .delete_goal(pb::DeleteGoalRequest {
            name: draft.name.clone(),
            etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_error(&undeletable, Code::FailedPrecondition, "GOAL_NOT_DRAFT");
    let renamed = client
        .update_goal(pb::UpdateGoalRequest {
            goal: Some(pb::Goal {
                name: draft.name.clone(),
                title: "Grow Instagram followers by half again".into(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .unwrap()
        .into_inner();

    let close = pb::CloseGoalRequest {
        name: draft.name.clone(),
        etag: renamed.etag.clone(),
    };
    let closed = client.close_goal(close.clone()).await.unwrap().into_inner();
    assert_eq!(closed.state, State::Closed as i32);
    let again = client
        .close_goal(pb::CloseGoalRequest {
            etag: closed.etag.clone(),
            ..close
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, closed, "closing a closed goal returns it unchanged");

    let before = app.goal_tables().await;
    let key_result = closed.key_results[0].name.clone();
    let refusals = [
        client
            .update_goal(pb::UpdateGoalRequest {
                goal: Some(pb::Goal {
                    name: draft.name.clone(),
                    team: "brand".into(),
                    ..Default::default()
                }),
                update_mask: None,
            })
            .await
            .unwrap_err(),
        client
            .activate_goal(pb::ActivateGoalRequest {
                name: draft.name.clone(),
                etag: String::new(),
            })
            .await
            .unwrap_err(),
        client
            .create_key_result(super::create_key_result_request(
                &draft.name,
                metric_key_result(),
            ))
            .await
            .unwrap_err(),
        client
            .update_key_result(pb::UpdateKeyResultRequest {
                key_result: Some(pb::KeyResult {
                    name: key_result.clone(),
                    title: "New title".into(),
                    ..Default::default()
                }),
                update_mask: None,
            })
            .await
            .unwrap_err(),
        client
            .delete_key_result(pb::DeleteKeyResultRequest {
                name: key_result,
                etag: String::new(),
            })
            .await
            .unwrap_err(),
    ];
    for refusal in refusals {
        assert_error(&refusal, Code::FailedPrecondition, "GOAL_CLOSED");
    }
    assert_eq!(app.goal_tables().await, before);
}

#[tokio::test]
async fn a_failing_smart_goal_lists_every_failed_check_and_stays_a_draft() {
    let app = spawn_app().await;
    let goal = app
        .create_goal(pb::Goal {
            title: "Followers".into(),
            business_objective: String::new(),
            deadline: None,
            ..smart_goal()
        })
        .await;
    app.create_key_result(&goal.name, milestone_key_result(&["Write a policy"]))
        .await;
    let before = app.goal_tables().await;
    let error = app.activate_goal(&goal.name).await.unwrap_err();
    assert_error(&error, Code::FailedPrecondition, "GOAL_CHECKS_FAILED");
    assert_eq!(
        precondition_types(&error),
        ["SPECIFIC", "MEASURABLE", "RELEVANT", "TIME_BOUND"]
    );
    let details = error.get_error_details();
    for violation in &details.precondition_failure().unwrap().violations {
        assert_eq!(violation.subject, goal.name);
        assert!(!violation.description.is_empty());
    }
    assert_eq!(app.goal_tables().await, before);
}

#[tokio::test]
async fn an_okr_needs_one_to_five_key_results_to_be_activated() {
    let app = spawn_app().await;
    let empty = app.create_goal(okr_goal()).await;
    let error = app.activate_goal(&empty.name).await.unwrap_err();
    assert_eq!(precondition_types(&error), ["KEY_RESULT_COUNT"]);

    let crowded = app.create_goal(okr_goal()).await;
    for _ in 0..6 {
        app.create_key_result(&crowded.name, metric_key_result())
            .await;
    }
    let error = app.activate_goal(&crowded.name).await.unwrap_err();
    assert_eq!(precondition_types(&error), ["KEY_RESULT_COUNT"]);

    let fine = app.create_goal(okr_goal()).await;
    for _ in 0..3 {
        app.create_key_result(&fine.name, milestone_key_result(&["Step"]))
            .await;
    }
    let active = app.activate_goal(&fine.name).await.unwrap();
    assert_eq!(active.state, State::Active as i32);
    assert_eq!(active.key_results.len(), 3);
}

#[tokio::test]
async fn a_checkpoint_outside_the_time_frame_fails_activation_as_time_bound() {
    let app = spawn_app().await;
    let goal = app.create_goal(smart_goal()).await;
    app.create_key_result(
        &goal.name,
        pb::KeyResult {
            checkpoints: vec![pb::key_result::Checkpoint {
                time: Some(ts(DEADLINE)),
                target_value: 1500.0,
            }],
            ..metric_key_result()
        },
    )
    .await;
    let error = app.activate_goal(&goal.name).await.unwrap_err();
    assert_eq!(precondition_types(&error), ["TIME_BOUND"]);
}

#[tokio::test]
async fn an_active_goal_keeps_its_checkpoints_inside_its_time_frame() {
    let app = spawn_app().await;
    let goal = app.create_goal(smart_goal()).await;
    app.create_key_result(
        &goal.name,
        pb::KeyResult {
            checkpoints: vec![pb::key_result::Checkpoint {
                time: Some(ts("2027-04-01T00:00:00Z")),
                target_value: 1500.0,
            }],
            ..metric_key_result()
        },
    )
    .await;
    app.activate_goal(&goal.name).await.unwrap();
    let before = app.goal_tables().await;
    for (description, deadline) in [
        (
            "a deadline before the checkpoint",
            Some(ts("2027-03-01T00:00:00Z")),
        ),
        ("no deadline", None),
    ] {
        let error = app
            .goals()
            .update_goal(pb::UpdateGoalRequest {
                goal: Some(pb::Goal {
                    name: goal.name.clone(),
                    deadline,
                    ..Default::default()
                }),
                update_mask: mask(&["deadline"]),
            })
            .await
            .unwrap_err();
        assert_violations(&error, &["goal.deadline"]);
        assert_eq!(app.goal_tables().await, before, "{description}");
    }
    let later = app
        .goals()
        .update_goal(pb::UpdateGoalRequest {
            goal: Some(pb::Goal {
                name: goal.name.clone(),
                deadline: Some(ts("2027-12-31T00:00:00Z")),
                ..Default::default()
            }),
            update_mask: mask(&["deadline"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(later.deadline, Some(ts("2027-12-31T00:00:00Z")));
}

#[tokio::test]
async fn closing_a_draft_is_refused() {
    let app = spawn_app().await;
    let goal = app.create_goal(smart_goal()).await;
    let error = app
        .goals()
        .close_goal(pb::CloseGoalRequest {
            name: goal.name.clone(),
            etag: goal.etag.clone(),
        })
        .await
        .unwrap_err();
    assert_error(&error, Code::FailedPrecondition, "GOAL_IS_DRAFT");
    assert_eq!(app.get_goal(&goal.name).await, goal);
}
