//! Key results: create, read, update and delete, their limit per goal, and
//! the accounts they measure.

use goalpost::pb;
use goalpost::pb::account::Network;
use goalpost::pb::key_result::{Checkpoint, Kind, Milestone, TargetMode};
use tonic::Code;

use super::{
    create_key_result_request, mask, metric_key_result, milestone_key_result, smart_goal, ts,
};
use crate::helpers::{assert_error, assert_violations, precondition_types, spawn_app};

#[tokio::test]
async fn a_metric_key_result_is_created_read_and_returned_with_its_goal() {
    let app = spawn_app().await;
    let goal = app.create_goal(smart_goal()).await;
    let account = app.create_account(Network::Instagram, "acme").await;
    let created = app
        .create_key_result(
            &goal.name,
            pb::KeyResult {
                accounts: vec![account.name.clone(), String::new()],
                window_days: 28,
                checkpoints: vec![
                    Checkpoint {
                        time: Some(ts("2027-05-01T00:00:00Z")),
                        target_value: 1800.0,
                    },
                    Checkpoint {
                        time: Some(ts("2027-03-01T00:00:00Z")),
                        target_value: 1400.0,
                    },
                ],
                ..metric_key_result()
            },
        )
        .await;
    assert!(
        created
            .name
            .starts_with(&format!("{}/keyResults/", goal.name))
    );
    assert_eq!(created.kind, Kind::Metric as i32);
    assert_eq!(
        created.weight,
        Some(1.0),
        "reads return the weight in effect"
    );
    assert_eq!(created.target_mode, TargetMode::Reach as i32);
    assert_eq!(created.accounts, [account.name.clone(), String::new()]);
    let times: Vec<_> = created.checkpoints.iter().map(|c| c.time).collect();
    assert_eq!(
        times,
        [
            Some(ts("2027-03-01T00:00:00Z")),
            Some(ts("2027-05-01T00:00:00Z"))
        ],
        "checkpoints are stored sorted by time"
    );

    let read = app
        .goals()
        .get_key_result(pb::GetKeyResultRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, created);
    let second = app
        .create_key_result(&goal.name, milestone_key_result(&["Write a policy"]))
        .await;
    let with_goal = app.get_goal(&goal.name).await;
    assert_eq!(
        with_goal.key_results,
        [created, second],
        "in creation order"
    );
    assert_eq!(
        with_goal.etag, goal.etag,
        "key results do not change the goal's etag"
    );
}

#[tokio::test]
async fn a_retried_create_key_result_returns_the_first_key_result() {
    let app = spawn_app().await;
    let goal = app.create_goal(smart_goal()).await;
    let request = pb::CreateKeyResultRequest {
        request_id: "0190b6f4-5e6b-7c1d-9a2e-3f4a5b6c7d8f".into(),
        ..create_key_result_request(&goal.name, metric_key_result())
    };
    let first = app
        .goals()
        .create_key_result(request.clone())
        .await
        .unwrap()
        .into_inner();
    let retry = app
        .goals()
        .create_key_result(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first, retry);
    assert_eq!(app.count("key_result").await, 1);
}

#[tokio::test]
async fn an_updated_milestone_list_keeps_the_identity_and_done_state_of_named_milestones() {
    let app = spawn_app().await;
    let goal = app.create_goal(smart_goal()).await;
    let created = app
        .create_key_result(&goal.name, milestone_key_result(&["Policy", "Accounts"]))
        .await;
    let policy = created.milestones[0].id.clone();
    let done = app
        .goals()
        .set_milestone_done(pb::SetMilestoneDoneRequest {
            key_result: created.name.clone(),
            milestone_id: policy.clone(),
            done: true,
            done_time: Some(ts("2026-10-01T00:00:00Z")),
            etag: created.etag.clone(),
        })
        .await
        .unwrap()
        .into_inner();

    let updated = app
        .goals()
        .update_key_result(pb::UpdateKeyResultRequest {
            key_result: Some(pb::KeyResult {
                name: created.name.clone(),
                milestones: vec![
                    Milestone {
                        title: "Crisis plan".into(),
                        ..Default::default()
                    },
                    Milestone {
                        id: policy.clone(),
                        title: "Social media policy".into(),
                        ..Default::default()
                    },
                ],
                etag: done.etag.clone(),
                ..Default::default()
            }),
            update_mask: mask(&["milestones"]),
        })
        .await
        .unwrap()
        .into_inner();
    let titles: Vec<_> = updated
        .milestones
        .iter()
        .map(|m| m.title.as_str())
        .collect();
    assert_eq!(titles, ["Crisis plan", "Social media policy"]);
    assert_eq!(updated.milestones[1].id, policy);
    assert!(
        updated.milestones[1].done,
        "a kept milestone keeps its done state"
    );
    assert_eq!(
        updated.milestones[1].done_time,
        Some(ts("2026-10-01T00:00:00Z"))
    );
    assert!(!updated.milestones[0].done && !updated.milestones[0].id.is_empty());

    let before = app.goal_tables().await;
    let unknown = app
        .goals()
        .update_key_result(pb::UpdateKeyResultRequest {
            key_result: Some(pb::KeyResult {
                name: created.name.clone(),
                milestones: vec![Milestone {
                    id: created.milestones[1].id.clone(),
                    title: "Dropped before, unknown now".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            update_mask: mask(&["milestones"]),
        })
        .await
        .unwrap_err();
    assert_violations(&unknown, &["key_result.milestones[0].id"]);
    assert_eq!(app.goal_tables().await, before);
}

#[tokio::test]
async fn a_metric_key_result_switches_from_a_target_value_to_a_change_percent() {
    let app = spawn_app().await;
    let goal = app.create_goal(smart_goal()).await;
    let created = app.create_key_result(&goal.name, metric_key_result()).await;
    let update = |paths: &[&str]| pb::UpdateKeyResultRequest {
        key_result: Some(pb::KeyResult {
            name: created.name.clone(),
            target_change_percent: Some(-20.0),
            weight: Some(2.5),
            ..Default::default()
        }),
        update_mask: mask(paths),
    };
    let both = app
        .goals()
        .update_key_result(update(&["target_change_percent"]))
        .await
        .unwrap_err();
    assert_violations(&both, &["key_result.target_change_percent"]);

    let switched = app
        .goals()
        .update_key_result(update(&["target_value", "target_change_percent", "weight"]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(switched.target_value, None);
    assert_eq!(switched.target_change_percent, Some(-20.0));
    assert_eq!(switched.weight, Some(2.5));
    assert_eq!(
        switched.baseline_value,
        Some(1000.0),
        "unmasked fields stay"
    );

    let mut clear_weight = update(&["weight"]);
    if let Some(key_result) = clear_weight.key_result.as_mut() {
        key_result.weight = None;
    }
    let defaulted = app
        .goals()
        .update_key_result(clear_weight)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        defaulted.weight,
        Some(1.0),
        "a cleared weight is the default"
    );
}

#[tokio::test]
async fn the_kind_of_a_key_result_cannot_change() {
    let app = spawn_app().await;
    let goal = app.create_goal(smart_goal()).await;
    let created = app.create_key_result(&goal.name, metric_key_result()).await;
    let before = app.goal_tables().await;
    let in_mask = app
        .goals()
        .update_key_result(pb::UpdateKeyResultRequest {
            key_result: Some(pb::KeyResult {
                name: created.name.clone(),
                ..milestone_key_result(&["Step"])
            }),
            update_mask: mask(&["kind", "milestones"]),
        })
        .await
        .unwrap_err();
    assert_violations(&in_mask, &["update_mask.paths[0]"]);
    let in_body = app
        .goals()
        .update_key_result(pb::UpdateKeyResultRequest {
            key_result: Some(pb::KeyResult {
                name: created.name.clone(),
                kind: Kind::Milestone as i32,
                title: "Renamed".into(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .unwrap_err();
    assert_violations(&in_body, &["key_result.kind"]);
    assert_eq!(app.goal_tables().await, before);
}

#[tokio::test]
async fn a_deleted_key_result_is_gone_and_a_stale_etag_deletes_nothing() {
    let app = spawn_app().await;
    let goal = app.create_goal(smart_goal()).await;
    let created = app
        .create_key_result(
            &goal.name,
            pb::KeyResult {
                checkpoints: vec![Checkpoint {
                    time: Some(ts("2027-03-01T00:00:00Z")),
                    target_value: 1500.0,
                }],
                ..metric_key_result()
            },
        )
        .await;
    let renamed = app
        .goals()
        .update_key_result(pb::UpdateKeyResultRequest {
            key_result: Some(pb::KeyResult {
                name: created.name.clone(),
                title: "Renamed".into(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .unwrap()
        .into_inner();
    let mut client = app.goals();
    let stale = client
        .delete_key_result(pb::DeleteKeyResultRequest {
            name: created.name.clone(),
            etag: created.etag.clone(),
        })
        .await
        .unwrap_err();
    assert_error(&stale, Code::Aborted, "ETAG_MISMATCH");
    client
        .delete_key_result(pb::DeleteKeyResultRequest {
            name: created.name.clone(),
            etag: renamed.etag.clone(),
        })
        .await
        .unwrap();
    let gone = client
        .get_key_result(pb::GetKeyResultRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap_err();
    assert_error(&gone, Code::NotFound, "KEY_RESULT_NOT_FOUND");
    assert_eq!(app.count("key_result_checkpoint").await, 0);
}

#[tokio::test]
async fn a_goal_holds_at_most_twenty_key_results() {
    let app = spawn_app().await;
    let goal = app.create_goal(smart_goal()).await;
    for _ in 0..20 {
        app.create_key_result(&goal.name, metric_key_result()).await;
    }
    let error = app
        .goals()
        .create_key_result(create_key_result_request(&goal.name, metric_key_result()))
        .await
        .unwrap_err();
    assert_error(&error, Code::FailedPrecondition, "KEY_RESULT_LIMIT");
    assert_eq!(precondition_types(&error), ["KEY_RESULT_LIMIT"]);
    assert_eq!(app.count("key_result").await, 20);
}

#[tokio::test]
async fn deleting_an_account_a_key_result_measures_is_refused_cleanly() {
    let app = spawn_app().await;
    let account = app.create_account(Network::Instagram, "acme").await;
    let goal = app.create_goal(smart_goal()).await;
    let key_result = app
        .create_key_result(
            &goal.name,
            pb::KeyResult {
                accounts: vec![account.name.clone()],
                ..metric_key_result()
            },
        )
        .await;
    let delete = pb::DeleteAccountRequest {
        name: account.name.clone(),
        etag: String::new(),
    };
    let error = app
        .audits()
        .delete_account(delete.clone())
        .await
        .unwrap_err();
    assert_error(&error, Code::FailedPrecondition, "ACCOUNT_IN_USE");
    assert_eq!(precondition_types(&error), ["ACCOUNT_IN_USE"]);

    // The refusal left nothing broken: the next calls work.
    let read = app
        .audits()
        .get_account(pb::GetAccountRequest {
            name: account.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, account);
    app.goals()
        .update_key_result(pb::UpdateKeyResultRequest {
            key_result: Some(pb::KeyResult {
                name: key_result.name.clone(),
                ..Default::default()
            }),
            update_mask: mask(&["accounts"]),
        })
        .await
        .unwrap();
    app.audits().delete_account(delete).await.unwrap();
    assert_eq!(app.count("account").await, 0);
}
