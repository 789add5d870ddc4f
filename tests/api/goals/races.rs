//! Writes racing each other: each outcome must be one that some serial
//! order of the same calls could give.

use goalpost::pb;
use tokio::task::JoinSet;
use tonic::Code;

use super::{create_key_result_request, mask, metric_key_result, milestone_key_result, smart_goal};
use crate::helpers::{assert_error, assert_violations, spawn_app};

#[tokio::test]
async fn concurrent_updates_with_the_same_etag_let_exactly_one_win() {
    let app = spawn_app().await;
    let goal = app.create_goal(smart_goal()).await;
    let mut calls = JoinSet::new();
    for index in 0..8 {
        let mut client = app.goals();
        let request = pb::UpdateGoalRequest {
            goal: Some(pb::Goal {
                name: goal.name.clone(),
                title: format!("Grow followers, attempt {index}"),
                etag: goal.etag.clone(),
                ..Default::default()
            }),
            update_mask: mask(&["title"]),
        };
        calls.spawn(async move { client.update_goal(request).await });
    }
    let mut winners = Vec::new();
    while let Some(outcome) = calls.join_next().await {
        match outcome.unwrap() {
            Ok(updated) => winners.push(updated.into_inner()),
            Err(error) => assert_error(&error, Code::Aborted, "ETAG_MISMATCH"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one update wins");
    assert_eq!(app.get_goal(&goal.name).await, winners[0]);
}

#[tokio::test]
async fn concurrent_key_result_creates_never_exceed_twenty() {
    let app = spawn_app().await;
    let goal = app.create_goal(smart_goal()).await;
    for _ in 0..15 {
        app.create_key_result(&goal.name, metric_key_result()).await;
    }
    let mut calls = JoinSet::new();
    for _ in 0..10 {
        let mut client = app.goals();
        let request = create_key_result_request(&goal.name, metric_key_result());
        calls.spawn(async move { client.create_key_result(request).await });
    }
    let mut created = 0;
    while let Some(outcome) = calls.join_next().await {
        match outcome.unwrap() {
            Ok(_) => created += 1,
            Err(error) => assert_error(&error, Code::FailedPrecondition, "KEY_RESULT_LIMIT"),
        }
    }
    assert_eq!(created, 5);
    assert_eq!(app.count("key_result").await, 20);
    let positions: Vec<i32> =
        sqlx::query_scalar("select position from key_result order by position")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(positions, (1..=20).collect::<Vec<_>>());
}

#[tokio::test]
async fn crossing_parent_changes_never_store_a_cycle() {
    let app = spawn_app().await;
    for round in 0..8 {
        let a = app.create_goal(smart_goal()).await;
        let b = app.create_goal(smart_goal()).await;
        let mut calls = JoinSet::new();
        for (goal, parent) in [
            (a.name.clone(), b.name.clone()),
            (b.name.clone(), a.name.clone()),
        ] {
            let mut client = app.goals();
            let request = pb::UpdateGoalRequest {
                goal: Some(pb::Goal {
                    name: goal,
                    parent,
                    ..Default::default()
                }),
                update_mask: mask(&["parent"]),
            };
            calls.spawn(async move { client.update_goal(request).await });
        }
        let mut won = 0;
        while let Some(outcome) = calls.join_next().await {
            match outcome.unwrap() {
                Ok(_) => won += 1,
                Err(error) => assert_violations(&error, &["goal.parent"]),
            }
        }
        assert_eq!(
            won, 1,
            "round {round}: exactly one of the crossing changes lands"
        );
    }
    let cycles: i64 = sqlx::query_scalar(
        "select count(*) from goal a join goal b on a.parent_goal_id = b.goal_id
         where b.parent_goal_id = a.goal_id",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(cycles, 0);
}

#[tokio::test]
async fn concurrent_milestone_updates_on_one_key_result_all_land() {
    let app = spawn_app().await;
    let goal = app.create_goal(smart_goal()).await;
    let titles: Vec<String> = (0..10).map(|i| format!("Step {i}")).collect();
    let title_refs: Vec<&str> = titles.iter().map(String::as_str).collect();
    let key_result = app
        .create_key_result(&goal.name, milestone_key_result(&title_refs))
        .await;
    let mut calls = JoinSet::new();
    for milestone in &key_result.milestones {
        let mut client = app.goals();
        let request = pb::SetMilestoneDoneRequest {
            key_result: key_result.name.clone(),
            milestone_id: milestone.id.clone(),
            done: true,
            done_time: None,
            etag: String::new(),
        };
        calls.spawn(async move { client.set_milestone_done(request).await });
    }
    while let Some(outcome) = calls.join_next().await {
        outcome.unwrap().expect("every milestone update lands");
    }
    let read = app
        .goals()
        .get_key_result(pb::GetKeyResultRequest {
            name: key_result.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        read.milestones
            .iter()
            .all(|m| m.done && m.done_time.is_some())
    );
    let revision: i64 = sqlx::query_scalar("select revision from key_result")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(revision, 11, "each update bumped the key result once");
}
