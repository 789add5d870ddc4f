//! A goal from draft to closed: create, read, update, activate, close and
//! delete, with etags, request ids and parents.

use goalpost::pb;
use goalpost::pb::GoalType;
use goalpost::pb::goal::{Framework, State};
use tonic::Code;
use tonic_types::StatusExt;

use super::{
    DEADLINE, MISSING_GOAL, START, create_goal_request, mask, metric_key_result,
    milestone_key_result, okr_goal, smart_goal, ts,
};
use crate::helpers::{assert_error, assert_violations, precondition_types, spawn_app};

#[tokio::test]
async fn the_ten_goal_types_are_listed_with_their_recommended_metrics() {
    let app = spawn_app().await;
    let types = app
        .goals()
        .list_goal_types(pb::ListGoalTypesRequest {})
        .await
        .unwrap()
        .into_inner()
        .goal_types;
    let listed: Vec<i32> = types.iter().map(|t| t.goal_type).collect();
    assert_eq!(
        listed,
        (1..=10).collect::<Vec<_>>(),
        "every type, in enum order"
    );
    let conversions = &types[GoalType::Conversions as usize - 1];
    assert_eq!(
        conversions.recommended_metric_keys,
        [
            "conversion_rate",
            "click_through_rate",
            "bounce_rate",
            "cost_per_click",
            "cost_per_mille"
        ]
    );
    let insights = &types[GoalType::MarketInsights as usize - 1];
    assert!(insights.milestone_based && insights.recommended_metric_keys.is_empty());
    assert!(!insights.suggested_milestones.is_empty());
    let crisis = &types[GoalType::CrisisManagement as usize - 1];
    assert!(crisis.milestone_based);
    assert_eq!(crisis.recommended_metric_keys, ["sentiment_score"]);
    assert_eq!(crisis.suggested_milestones.len(), 3);
    assert!(
        types
            .iter()
            .all(|t| !t.display_name.is_empty() && !t.description.is_empty())
    );
}

#[tokio::test]
async fn a_created_goal_is_a_draft_that_can_be_read_back() {
    let app = spawn_app().await;
    let created = app.create_goal(smart_goal()).await;
    assert!(created.name.starts_with("goals/"));
    assert_eq!(created.state, State::Draft as i32);
    assert_eq!(created.title, "Grow Instagram followers by half");
    assert_eq!(created.start_time, Some(ts(START)));
    assert_eq!(
        created.success_threshold, None,
        "the default follows the framework"
    );
    assert!(created.key_results.is_empty() && !created.etag.is_empty());
    assert_eq!(app.get_goal(&created.name).await, created);
}

#[tokio::test]
async fn a_retried_create_goal_with_the_same_request_id_returns_the_first_goal() {
    let app = spawn_app().await;
    let request = pb::CreateGoalRequest {
        goal: Some(smart_goal()),
        request_id: "0190b6f4-5e6b-7c1d-9a2e-3f4a5b6c7d8e".into(),
    };
    let first = app
        .goals()
        .create_goal(request.clone())
        .await
        .unwrap()
        .into_inner();
    let retry = app
        .goals()
        .create_goal(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first, retry);
    assert_eq!(app.count("goal").await, 1);

    let reused = app
        .goals()
        .create_goal(pb::CreateGoalRequest {
            goal: Some(okr_goal()),
            ..request
        })
        .await
        .unwrap_err();
    assert_violations(&reused, &["request_id"]);
    assert_eq!(app.count("goal").await, 1);
}

#[tokio::test]
async fn updating_a_goal_changes_only_the_masked_fields() {
    let app = spawn_app().await;
    let created = app.create_goal(smart_goal()).await;
    let updated = app
        .goals()
        .update_goal(pb::UpdateGoalRequest {
            goal: Some(pb::Goal {
                name: created.name.clone(),
                title: "Grow Instagram followers by two thirds".into(),
                team: "ignored, not in the mask".into(),
                success_threshold: Some(0.9),
                etag: created.etag.clone(),
                ..Default::default()
            }),
            update_mask: mask(&["title", "success_threshold", "owner"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.title, "Grow Instagram followers by two thirds");
    assert_eq!(updated.success_threshold, Some(0.9));
    assert_eq!(updated.owner, "", "a masked field left unset is cleared");
    assert_eq!(updated.team, created.team);
    assert_ne!(updated.etag, created.etag);
    assert_eq!(app.get_goal(&created.name).await, updated);
}

#[tokio::test]
async fn an_update_and_its_reversal_restore_the_goal() {
    let app = spawn_app().await;
    let created = app.create_goal(smart_goal()).await;
    let update = |goal: pb::Goal| pb::UpdateGoalRequest {
        goal: Some(goal),
        update_mask: mask(&["*"]),
    };
    let changed = app
        .goals()
        .update_goal(update(pb::Goal {
            name: created.name.clone(),
            framework: Framework::Okr as i32,
            deadline: Some(ts("2027-12-31T00:00:00Z")),
            ..smart_goal()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(changed.framework, Framework::Okr as i32);
    let restored = app
        .goals()
        .update_goal(update(pb::Goal {
            name: created.name.clone(),
            ..smart_goal()
        }))
        .await
        .unwrap()
        .into_inner();
    let comparable = |goal: &pb::Goal| pb::Goal {
        etag: String::new(),
        update_time: None,
        ..goal.clone()
    };
    assert_eq!(comparable(&restored), comparable(&created));
    assert_ne!(restored.etag, created.etag, "each write makes a new etag");
}

#[tokio::test]
async fn a_stale_etag_aborts_every_goal_write_and_changes_nothing() {
    let app = spawn_app().await;
    let created = app.create_goal(smart_goal()).await;
    app.create_key_result(&created.name, metric_key_result())
        .await;
    let stale = created.etag.clone();
    app.goals()
        .update_goal(pb::UpdateGoalRequest {
            goal: Some(pb::Goal {
                name: created.name.clone(),
                team: "brand".into(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .unwrap();
    let before = app.goal_tables().await;

    let mut client = app.goals();
    let name = created.name.clone();
    let errors = [
        client
            .update_goal(pb::UpdateGoalRequest {
                goal: Some(pb::Goal {
                    name: name.clone(),
                    owner: "someone".into(),
                    etag: stale.clone(),
                    ..Default::default()
                }),
                update_mask: None,
            })
            .await
            .unwrap_err(),
        client
            .delete_goal(pb::DeleteGoalRequest {
                name: name.clone(),
                etag: stale.clone(),
            })
            .await
            .unwrap_err(),
        client
            .activate_goal(pb::ActivateGoalRequest {
                name: name.clone(),
                etag: stale.clone(),
            })
            .await
            .unwrap_err(),
        client
            .close_goal(pb::CloseGoalRequest {
                name: name.clone(),
                etag: stale.clone(),
            })
            .await
            .unwrap_err(),
    ];
    for error in errors {
        assert_error(&error, Code::Aborted, "ETAG_MISMATCH");
    }
    assert_eq!(app.goal_tables().await, before);
}

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
async fn only_drafts_that_no_goal_names_as_parent_can_be_deleted() {
    let app = spawn_app().await;
    let parent = app.create_goal(smart_goal()).await;
    let child = app
        .create_goal(pb::Goal {
            parent: parent.name.clone(),
            ..okr_goal()
        })
        .await;
    app.create_key_result(&child.name, metric_key_result())
        .await;
    assert_eq!(child.parent, parent.name);

    let mut client = app.goals();
    let delete = |name: &str| pb::DeleteGoalRequest {
        name: name.to_owned(),
        etag: String::new(),
    };
    let error = client.delete_goal(delete(&parent.name)).await.unwrap_err();
    assert_error(&error, Code::FailedPrecondition, "GOAL_HAS_CHILDREN");
    client.delete_goal(delete(&child.name)).await.unwrap();
    assert_eq!(
        app.count("key_result").await,
        0,
        "key results go with the goal"
    );
    client.delete_goal(delete(&parent.name)).await.unwrap();
    let gone = client.delete_goal(delete(&parent.name)).await.unwrap_err();
    assert_error(&gone, Code::NotFound, "GOAL_NOT_FOUND");
    assert_eq!(app.count("goal").await, 0);
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

#[tokio::test]
async fn parents_must_exist_and_never_form_a_cycle() {
    let app = spawn_app().await;
    let missing = app
        .goals()
        .create_goal(create_goal_request(pb::Goal {
            parent: MISSING_GOAL.into(),
            ..smart_goal()
        }))
        .await
        .unwrap_err();
    assert_violations(&missing, &["goal.parent"]);
    assert_eq!(app.count("goal").await, 0);

    let a = app.create_goal(smart_goal()).await;
    let b = app
        .create_goal(pb::Goal {
            parent: a.name.clone(),
            ..smart_goal()
        })
        .await;
    let c = app
        .create_goal(pb::Goal {
            parent: b.name.clone(),
            ..smart_goal()
        })
        .await;
    let set_parent = |goal: &str, parent: &str| pb::UpdateGoalRequest {
        goal: Some(pb::Goal {
            name: goal.to_owned(),
            parent: parent.to_owned(),
            ..Default::default()
        }),
        update_mask: mask(&["parent"]),
    };
    let before = app.goal_tables().await;
    for (description, goal, parent) in [
        ("its own parent", &a.name, &a.name),
        ("a child as parent", &a.name, &b.name),
        ("a grandchild as parent", &a.name, &c.name),
        ("a missing parent", &a.name, &MISSING_GOAL.to_owned()),
    ] {
        let error = app
            .goals()
            .update_goal(set_parent(goal, parent))
            .await
            .unwrap_err();
        assert_violations(&error, &["goal.parent"]);
        assert_eq!(app.goal_tables().await, before, "{description}");
    }
    let top = app
        .goals()
        .update_goal(set_parent(&b.name, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(top.parent, "", "an empty parent makes a top-level goal");
    let moved = app
        .goals()
        .update_goal(set_parent(&a.name, &c.name))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        moved.parent, c.name,
        "allowed once b no longer descends from a"
    );
}
