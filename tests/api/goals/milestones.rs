//! SetMilestoneDone: done, undone and redone, backdated, and refused.

use goalpost::pb;
use tonic::Code;

use super::{metric_key_result, milestone_key_result, smart_goal, ts};
use crate::helpers::{assert_error, assert_violations, spawn_app};

fn set_done(
    key_result: &pb::KeyResult,
    index: usize,
    done: bool,
    done_time: Option<&str>,
) -> pb::SetMilestoneDoneRequest {
    pb::SetMilestoneDoneRequest {
        key_result: key_result.name.clone(),
        milestone_id: key_result.milestones[index].id.clone(),
        done,
        done_time: done_time.map(ts),
        etag: String::new(),
    }
}

#[tokio::test]
async fn a_milestone_is_done_undone_and_redone_with_a_backdated_time() {
    let app = spawn_app().await;
    let goal = app.create_goal(smart_goal()).await;
    let created = app
        .create_key_result(&goal.name, milestone_key_result(&["Policy", "Accounts"]))
        .await;
    let mut client = app.goals();

    let before = chrono::Utc::now().timestamp();
    let done = client
        .set_milestone_done(pb::SetMilestoneDoneRequest {
            etag: created.etag.clone(),
            ..set_done(&created, 0, true, None)
        })
        .await
        .unwrap()
        .into_inner();
    let first_time = done.milestones[0].done_time.expect("done now");
    assert!(done.milestones[0].done && first_time.seconds >= before - 1);
    assert!(!done.milestones[1].done);
    assert_ne!(
        done.etag, created.etag,
        "a milestone change is a key result change"
    );

    let again = client
        .set_milestone_done(set_done(&done, 0, true, None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, done, "done again keeps the recorded time and etag");

    let undone = client
        .set_milestone_done(set_done(&done, 0, false, None))
        .await
        .unwrap()
        .into_inner();
    assert!(!undone.milestones[0].done && undone.milestones[0].done_time.is_none());

    let redone = client
        .set_milestone_done(set_done(&undone, 0, true, Some("2026-06-01T12:00:00Z")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        redone.milestones[0].done_time,
        Some(ts("2026-06-01T12:00:00Z")),
        "backdating is allowed"
    );
    let corrected = client
        .set_milestone_done(set_done(&redone, 0, true, Some("2026-05-01T12:00:00Z")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        corrected.milestones[0].done_time,
        Some(ts("2026-05-01T12:00:00Z")),
        "a done milestone takes a corrected time"
    );
    let read = client
        .get_key_result(pb::GetKeyResultRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, corrected);
}

#[tokio::test]
async fn bad_milestone_updates_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let goal = app.create_goal(smart_goal()).await;
    let milestones = app
        .create_key_result(&goal.name, milestone_key_result(&["Policy"]))
        .await;
    let metric = app.create_key_result(&goal.name, metric_key_result()).await;
    let before = app.goal_tables().await;
    let mut client = app.goals();

    let invalid: Vec<(&str, pb::SetMilestoneDoneRequest, Vec<&str>)> = vec![
        (
            "a done time in the future",
            set_done(&milestones, 0, true, Some("2099-01-01T00:00:00Z")),
            vec!["done_time"],
        ),
        (
            "a done time while not done",
            set_done(&milestones, 0, false, Some("2026-01-01T00:00:00Z")),
            vec!["done_time"],
        ),
        (
            "no milestone id and a malformed key result name",
            pb::SetMilestoneDoneRequest {
                key_result: "goals/x".into(),
                milestone_id: String::new(),
                ..set_done(&milestones, 0, true, None)
            },
            vec!["key_result", "milestone_id"],
        ),
        (
            "a milestone id that is not a UUID",
            pb::SetMilestoneDoneRequest {
                milestone_id: "policy".into(),
                ..set_done(&milestones, 0, true, None)
            },
            vec!["milestone_id"],
        ),
    ];
    for (description, request, fields) in invalid {
        let error = client.set_milestone_done(request).await.unwrap_err();
        assert_violations(&error, &fields);
        assert_eq!(app.goal_tables().await, before, "{description}");
    }

    let unknown = client
        .set_milestone_done(pb::SetMilestoneDoneRequest {
            milestone_id: "0190b6f4-5e6b-7c1d-9a2e-3f4a5b6c7d8e".into(),
            ..set_done(&milestones, 0, true, None)
        })
        .await
        .unwrap_err();
    assert_error(&unknown, Code::NotFound, "MILESTONE_NOT_FOUND");
    let on_metric = client
        .set_milestone_done(pb::SetMilestoneDoneRequest {
            key_result: metric.name.clone(),
            ..set_done(&milestones, 0, true, None)
        })
        .await
        .unwrap_err();
    assert_error(
        &on_metric,
        Code::FailedPrecondition,
        "KEY_RESULT_NOT_MILESTONE",
    );
    let stale = client
        .set_milestone_done(pb::SetMilestoneDoneRequest {
            etag: "r0".into(),
            ..set_done(&milestones, 0, true, None)
        })
        .await
        .unwrap_err();
    assert_error(&stale, Code::Aborted, "ETAG_MISMATCH");
    assert_eq!(app.goal_tables().await, before);
}
