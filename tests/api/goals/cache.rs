//! GetGoal is served from an in-process cache: every write must be read
//! next, whichever replica took it and however it was made, and a load
//! racing a write must never put the old goal back.

use std::time::{Duration, Instant};

use goalpost::pb;
use tonic::Code;

use super::{mask, milestone_key_result, smart_goal};
use crate::helpers::{TestApp, spawn_app};

/// How long another replica may take to hear a change: in practice a
/// millisecond or so; the cache itself would serve a stale goal for 30 s.
const HEARD_WITHIN: Duration = Duration::from_secs(5);

async fn retitle(app: &TestApp, name: &str, title: &str) -> pb::Goal {
    app.goals()
        .update_goal(pb::UpdateGoalRequest {
            goal: Some(pb::Goal {
                name: name.to_owned(),
                title: title.to_owned(),
                ..Default::default()
            }),
            update_mask: mask(&["title"]),
        })
        .await
        .expect("retitle")
        .into_inner()
}

/// Reads the goal on `app` until its title is `title`; false when that
/// does not happen within [`HEARD_WITHIN`].
async fn reads_title(app: &TestApp, name: &str, title: &str) -> bool {
    let started = Instant::now();
    while started.elapsed() < HEARD_WITHIN {
        if app.get_goal(name).await.title == title {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// Reads a goal once its creation's own notification has surely been
/// heard (a load that races a notification is not kept), so the read leaves
/// it in the cache.
async fn cache(app: &TestApp, name: &str) {
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.get_goal(name).await;
}

#[tokio::test]
async fn every_kind_of_write_is_read_next_on_the_replica_that_took_it() {
    let app = spawn_app().await;
    let goal = app.create_goal(smart_goal()).await;
    let mut client = app.goals();
    // Each step reads the goal first, so the write below has a cached goal
    // to make stale.
    app.get_goal(&goal.name).await;
    let retitled = retitle(&app, &goal.name, "Retitled").await;
    assert_eq!(app.get_goal(&goal.name).await, retitled);

    app.get_goal(&goal.name).await;
    let key_result = app
        .create_key_result(&goal.name, milestone_key_result(&["Policy"]))
        .await;
    assert_eq!(
        app.get_goal(&goal.name).await.key_results,
        vec![key_result.clone()]
    );

    app.get_goal(&goal.name).await;
    let done = client
        .set_milestone_done(pb::SetMilestoneDoneRequest {
            key_result: key_result.name.clone(),
            milestone_id: key_result.milestones[0].id.clone(),
            done: true,
            done_time: None,
            etag: String::new(),
        })
        .await
        .expect("done")
        .into_inner();
    assert_eq!(
        app.get_goal(&goal.name).await.key_results,
        vec![done.clone()]
    );

    app.get_goal(&goal.name).await;
    let renamed = client
        .update_key_result(pb::UpdateKeyResultRequest {
            key_result: Some(pb::KeyResult {
                name: done.name.clone(),
                title: "Write the policy".into(),
                ..Default::default()
            }),
            update_mask: mask(&["title"]),
        })
        .await
        .expect("update the key result")
        .into_inner();
    assert_eq!(
        app.get_goal(&goal.name).await.key_results,
        vec![renamed.clone()]
    );

    app.get_goal(&goal.name).await;
    client
        .delete_key_result(pb::DeleteKeyResultRequest {
            name: renamed.name.clone(),
            etag: String::new(),
        })
        .await
        .expect("delete the key result");
    assert!(app.get_goal(&goal.name).await.key_results.is_empty());

    app.get_goal(&goal.name).await;
    client
        .delete_goal(pb::DeleteGoalRequest {
            name: goal.name.clone(),
            etag: String::new(),
        })
        .await
        .expect("delete the draft");
    let gone = client
        .get_goal(pb::GetGoalRequest {
            name: goal.name.clone(),
        })
        .await
        .expect_err("deleted");
    assert_eq!(gone.code(), Code::NotFound);
}

#[tokio::test]
async fn readers_racing_a_writer_never_see_an_acknowledged_write_undone() {
    let app = spawn_app().await;
    let goal = app.create_goal(smart_goal()).await;
    let stop = tokio_util::sync::CancellationToken::new();
    // Readers keep loading the goal into the cache while it changes.
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let client = app.goals();
            let name = goal.name.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut client = client;
                while !stop.is_cancelled() {
                    client
                        .get_goal(pb::GetGoalRequest { name: name.clone() })
                        .await
                        .expect("read while written");
                }
            })
        })
        .collect();
    for round in 0..40 {
        let title = format!("Round {round}");
        let written = retitle(&app, &goal.name, &title).await;
        let read = app.get_goal(&goal.name).await;
        assert_eq!(read.title, title, "round {round}");
        assert_eq!(read.etag, written.etag, "round {round}");
    }
    stop.cancel();
    for reader in readers {
        reader.await.expect("a reader");
    }
}

#[tokio::test]
async fn a_write_on_another_replica_or_by_hand_is_heard() {
    let app = spawn_app().await;
    let replica = app.replica().await;
    let goal = app.create_goal(smart_goal()).await;
    cache(&replica, &goal.name).await;

    retitle(&app, &goal.name, "Written elsewhere").await;
    assert!(reads_title(&replica, &goal.name, "Written elsewhere").await);

    // A write no replica takes still fires the change trigger.
    sqlx::query("update goal set title = 'Written by hand' where goal_id = $1")
        .bind(uuid::Uuid::parse_str(goal.name.trim_start_matches("goals/")).unwrap())
        .execute(&app.pool)
        .await
        .expect("update by hand");
    assert!(reads_title(&app, &goal.name, "Written by hand").await);
    assert!(reads_title(&replica, &goal.name, "Written by hand").await);
}

#[tokio::test]
async fn the_cache_is_emptied_when_the_listener_listens_again() {
    let app = spawn_app().await;
    let goal = app.create_goal(smart_goal()).await;
    cache(&app, &goal.name).await;

    // A write that announces nothing (its triggers are off, as they would
    // be for a write the listener missed) is not seen: the goal is cached.
    let mut conn = app.pool.acquire().await.expect("a connection");
    sqlx::query("set session_replication_role = replica")
        .execute(&mut *conn)
        .await
        .expect("triggers off");
    sqlx::query("update goal set title = 'Written unheard' where goal_id = $1")
        .bind(uuid::Uuid::parse_str(goal.name.trim_start_matches("goals/")).unwrap())
        .execute(&mut *conn)
        .await
        .expect("update by hand");
    sqlx::query("reset session_replication_role")
        .execute(&mut *conn)
        .await
        .expect("triggers on");
    assert_ne!(app.get_goal(&goal.name).await.title, "Written unheard");

    // Ending the listener's connection loses whatever was announced until
    // it listens again, so the cache must start over then.
    let ended: bool = sqlx::query_scalar(
        "select coalesce(bool_and(pg_terminate_backend(pid, 5000)), false)
         from pg_stat_activity
         where datname = current_database() and query ilike 'listen%'",
    )
    .fetch_one(&mut *conn)
    .await
    .expect("end the listener");
    assert!(ended, "the listener's connection was found and ended");
    assert!(
        reads_title(&app, &goal.name, "Written unheard").await,
        "the cache was emptied when the listener listened again"
    );
}
