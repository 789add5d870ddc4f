//! WatchGoalProgress through real gRPC calls: the first message, updates
//! from writes taken by another server on the same database, coalescing,
//! slow and departing subscribers, a lost LISTEN connection, and the ends
//! of a stream.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use goalpost::pb;
use goalpost::pb::goal::Framework;
use tokio_stream::StreamExt;
use tonic::{Code, Streaming};

use crate::helpers::{TestApp, assert_error, assert_violations, spawn_app};
use crate::metrics::metric_client;
use crate::progress::{
    activate, add_key_result, create_goal, goal, goal_client, metric_key_result,
    milestone_key_result, progress_client,
};

/// How long a test waits for a message it expects: generous, since the
/// whole suite shares two cores with the database.
const PATIENCE: Duration = Duration::from_secs(30);

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339()
}

/// An active SMART goal from ten days ago to twenty days ahead, with one key
/// result: the 30-day sum of likes on a new account, from 0 to 1,000.
async fn likes_goal(app: &TestApp, handle: &str) -> (pb::Goal, pb::Account) {
    let account = app
        .create_account(pb::account::Network::Instagram, handle)
        .await;
    let now = Utc::now();
    let smart = create_goal(
        app,
        goal(
            "Grow likes on the main account",
            Framework::Smart,
            &rfc3339(now - TimeDelta::days(10)),
            &rfc3339(now + TimeDelta::days(20)),
        ),
    )
    .await;
    add_key_result(
        app,
        &smart,
        pb::KeyResult {
            baseline_value: Some(0.0),
            target_value: Some(1000.0),
            ..metric_key_result("likes", &[&account.name], 30)
        },
    )
    .await;
    activate(app, &smart).await;
    (smart, account)
}

/// Writes one observation of likes on `account`, `minutes_ago` minutes ago.
async fn like(app: &TestApp, account: &pb::Account, minutes_ago: i64, value: f64) {
    metric_client(app)
        .write_observations(pb::WriteObservationsRequest {
            observations: vec![likes(account, minutes_ago, value)],
        })
        .await
        .expect("write likes");
}

fn likes(account: &pb::Account, minutes_ago: i64, value: f64) -> pb::Observation {
    let time = Utc::now() - TimeDelta::minutes(minutes_ago);
    pb::Observation {
        metric_key: "likes".into(),
        account: account.name.clone(),
        observed_at: Some(prost_types::Timestamp {
            seconds: time.timestamp(),
            nanos: 0,
        }),
        value,
        source: "test".into(),
        recorded_at: None,
        recorded_by: String::new(),
    }
}

async fn watch(app: &TestApp, goals: &[&pb::Goal]) -> Streaming<pb::GoalProgress> {
    progress_client(app)
        .watch_goal_progress(pb::WatchGoalProgressRequest {
            goals: goals.iter().map(|goal| goal.name.clone()).collect(),
        })
        .await
        .expect("start watching")
        .into_inner()
}

/// The next message, failing the test if none comes in time.
async fn next(stream: &mut Streaming<pb::GoalProgress>) -> pb::GoalProgress {
    tokio::time::timeout(PATIENCE, stream.next())
        .await
        .expect("a message in time")
        .expect("the stream goes on")
        .expect("a progress message")
}

/// Messages until one satisfies `done`, counting them.
async fn until(
    stream: &mut Streaming<pb::GoalProgress>,
    done: impl Fn(&pb::GoalProgress) -> bool,
) -> (pb::GoalProgress, usize) {
    let mut seen = 0;
    loop {
        let message = next(stream).await;
        seen += 1;
        if done(&message) {
            return (message, seen);
        }
    }
}

/// Asserts nothing arrives for a while.
async fn assert_quiet(stream: &mut Streaming<pb::GoalProgress>, what: &str) {
    if let Ok(message) = tokio::time::timeout(Duration::from_millis(600), stream.next()).await {
        panic!("{what}: expected no message, got {message:?}");
    }
}

fn current(progress: &pb::GoalProgress) -> Option<f64> {
    progress.key_results[0].current
}

#[tokio::test]
async fn a_watch_starts_with_the_current_progress_and_follows_writes_through_another_server() {
    let app = spawn_app().await;
    let (smart, account) = likes_goal(&app, "watched").await;
    like(&app, &account, 60, 100.0).await;
    let mut stream = watch(&app, &[&smart]).await;
    let first = next(&mut stream).await;
    assert_eq!(first.goal, smart.name);
    assert_eq!(current(&first), Some(100.0));

    let other = app.replica().await;
    let written = Instant::now();
    like(&other, &account, 30, 150.0).await;
    let (update, _) = until(&mut stream, |message| current(message) == Some(250.0)).await;
    assert!(update.score > first.score, "the score moved with the write");
    assert!(
        written.elapsed() < Duration::from_secs(5),
        "the update came promptly"
    );
}

#[tokio::test]
async fn goal_edits_and_milestones_send_a_message_and_unrelated_writes_do_not() {
    let app = spawn_app().await;
    let (smart, _) = likes_goal(&app, "edited").await;
    let bystander = app
        .create_account(pb::account::Network::Tiktok, "bystander")
        .await;
    let mut stream = watch(&app, &[&smart]).await;
    let first = next(&mut stream).await;
    assert_eq!(current(&first), None, "no likes yet: no data, not zero");

    // Another account's likes and another metric do not concern the goal.
    like(&app, &bystander, 10, 5.0).await;
    assert_quiet(&mut stream, "likes on an account the goal does not read").await;

    // A new key result changes the goal.
    let steps = add_key_result(&app, &smart, milestone_key_result(&["Plan", "Launch"])).await;
    let (with_steps, _) = until(&mut stream, |message| message.key_results.len() == 2).await;
    assert_eq!(with_steps.key_results[1].current, Some(0.0));

    let done_time = rfc3339(Utc::now() - TimeDelta::hours(1));
    goal_client(&app)
        .set_milestone_done(pb::SetMilestoneDoneRequest {
            key_result: steps.name.clone(),
            milestone_id: steps.milestones[0].id.clone(),
            done: true,
            done_time: Some(crate::progress::at(&done_time)),
            etag: String::new(),
        })
        .await
        .expect("mark a step done");
    let (after_step, _) = until(&mut stream, |message| {
        message.key_results.get(1).and_then(|kr| kr.current) == Some(1.0)
    })
    .await;
    assert!(after_step.score > with_steps.score);
}

#[tokio::test]
async fn a_replayed_observation_sends_nothing_and_a_correction_sends_the_new_value() {
    let app = spawn_app().await;
    let (smart, account) = likes_goal(&app, "replayed").await;
    let observation = likes(&account, 15, 70.0);
    let write = |observation: pb::Observation| {
        let mut client = metric_client(&app);
        async move {
            client
                .write_observations(pb::WriteObservationsRequest {
                    observations: vec![observation],
                })
                .await
                .expect("write likes")
        }
    };
    write(observation.clone()).await;
    let mut stream = watch(&app, &[&smart]).await;
    assert_eq!(current(&next(&mut stream).await), Some(70.0));
    write(observation.clone()).await;
    assert_quiet(&mut stream, "a replay of the same value").await;
    write(pb::Observation {
        value: 90.0,
        ..observation
    })
    .await;
    let (corrected, _) = until(&mut stream, |message| current(message).is_some()).await;
    assert_eq!(
        current(&corrected),
        Some(90.0),
        "the correction replaced the value"
    );
}

#[tokio::test]
async fn a_burst_of_writes_is_coalesced_into_a_bounded_number_of_messages() {
    let app = spawn_app().await;
    let (smart, account) = likes_goal(&app, "burst").await;
    let mut stream = watch(&app, &[&smart]).await;
    next(&mut stream).await;

    // One stream of 20,000 rows is one transaction: one message. Its rows
    // lie 100 minutes and more back, apart from the single writes below.
    let rows: Vec<pb::Observation> = (0..20_000)
        .map(|index| likes(&account, 20_100 - index, 0.5))
        .collect();
    let chunks: Vec<pb::StreamObservationsRequest> = rows
        .chunks(5_000)
        .map(|chunk| pb::StreamObservationsRequest {
            observations: chunk.to_vec(),
        })
        .collect();
    metric_client(&app)
        .stream_observations(tokio_stream::iter(chunks))
        .await
        .expect("stream likes");
    let (loaded, seen) = until(&mut stream, |message| current(message).is_some()).await;
    assert_eq!(seen, 1, "a bulk load is one message");
    let total = current(&loaded).unwrap();

    // 60 separate writes: far fewer messages than writes, at most one per
    // coalescing interval, and the last one carries the final state.
    let started = Instant::now();
    for minute in 0..60 {
        like(&app, &account, minute, 1.0).await;
    }
    let target = total + 60.0;
    let (last, seen) = until(&mut stream, |message| current(message) == Some(target)).await;
    let elapsed = started.elapsed();
    let bound =
        (elapsed.as_millis() / goalpost::progress::watch::COALESCE.as_millis()) as usize + 2;
    assert!(
        seen <= bound,
        "{seen} messages in {elapsed:?}: more than one per interval"
    );
    assert!(seen < 60, "{seen} messages for 60 writes");
    assert_eq!(current(&last), Some(target));
    assert_quiet(&mut stream, "nothing after the final state").await;
}

#[tokio::test]
async fn a_subscriber_that_never_reads_holds_up_no_writer_and_later_gets_the_latest_state() {
    let app = spawn_app().await;
    let (smart, account) = likes_goal(&app, "stalled").await;
    let mut stalled = watch(&app, &[&smart]).await;
    // 200 writes, each in its own call, while the subscriber reads nothing.
    let started = Instant::now();
    let writes = async {
        for index in 0..200 {
            like(&app, &account, index, 1.0).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), writes)
        .await
        .expect("the writes finish while a subscriber does not read");
    // What waits for it is what the transport buffered (one message per
    // coalescing interval at most, not one per write), then the state after
    // every write.
    let (latest, seen) = until(&mut stalled, |message| current(message) == Some(200.0)).await;
    let bound = (started.elapsed().as_millis() / goalpost::progress::watch::COALESCE.as_millis())
        as usize
        + 2;
    assert!(seen <= bound, "{seen} messages: more than one per interval");
    assert!(seen < 200, "{seen} messages: one per write piled up");
    assert_eq!(current(&latest), Some(200.0));
}

#[tokio::test]
async fn cancelling_a_watch_unregisters_it() {
    let app = spawn_app().await;
    let (smart, _) = likes_goal(&app, "cancelled").await;
    let mut stream = watch(&app, &[&smart]).await;
    next(&mut stream).await;
    // The snapshot recorder is a subscriber of its own.
    let with_watch = app.hub.subscribers();
    drop(stream);
    let deadline = Instant::now() + PATIENCE;
    while app.hub.subscribers() >= with_watch {
        assert!(Instant::now() < deadline, "the watch stayed registered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn deleting_a_watched_goal_ends_the_watch_with_not_found() {
    let app = spawn_app().await;
    let now = Utc::now();
    let draft = create_goal(
        &app,
        goal(
            "A draft that will be dropped",
            Framework::Okr,
            &rfc3339(now - TimeDelta::days(1)),
            &rfc3339(now + TimeDelta::days(1)),
        ),
    )
    .await;
    let mut stream = watch(&app, &[&draft]).await;
    next(&mut stream).await;
    goal_client(&app)
        .delete_goal(pb::DeleteGoalRequest {
            name: draft.name.clone(),
            etag: String::new(),
        })
        .await
        .expect("delete the draft");
    let ended = tokio::time::timeout(PATIENCE, stream.next())
        .await
        .expect("the stream ends in time")
        .expect("an error ends the stream")
        .expect_err("the stream ends with an error");
    assert_error(&ended, Code::NotFound, "GOAL_NOT_FOUND");
}

#[tokio::test]
async fn a_lost_listen_connection_is_replaced_and_watchers_get_a_fresh_state() {
    let app = spawn_app().await;
    let (smart, account) = likes_goal(&app, "reconnected").await;
    let mut stream = watch(&app, &[&smart]).await;
    next(&mut stream).await;
    let killed: Vec<bool> = sqlx::query_scalar(
        "select pg_terminate_backend(pid) from pg_stat_activity
         where datname = current_database() and query ilike 'listen%'",
    )
    .fetch_all(&app.pool)
    .await
    .expect("terminate the listener");
    assert_eq!(killed, [true], "one listening connection");
    let fresh = next(&mut stream).await;
    assert_eq!(
        fresh.goal, smart.name,
        "a fresh state after the reconnection"
    );
    like(&app, &account, 5, 11.0).await;
    until(&mut stream, |message| current(message) == Some(11.0)).await;
}

#[tokio::test]
async fn a_stopping_server_ends_its_watches_with_unavailable() {
    let app = spawn_app().await;
    let (smart, _) = likes_goal(&app, "stopping").await;
    let replica = app.replica().await;
    let mut stream = watch(&replica, &[&smart]).await;
    next(&mut stream).await;
    drop(replica);
    let ended = tokio::time::timeout(PATIENCE, stream.next())
        .await
        .expect("the stream ends in time");
    let status = ended
        .expect("a status ends the stream")
        .expect_err("the stream ends with an error");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
}

#[tokio::test]
async fn watching_nothing_unknown_or_malformed_goals_is_refused() {
    let app = spawn_app().await;
    let mut client = progress_client(&app);
    let refused = |goals: Vec<String>| {
        let mut client = client.clone();
        async move {
            client
                .watch_goal_progress(pb::WatchGoalProgressRequest { goals })
                .await
                .expect_err("refused")
        }
    };
    assert_violations(&refused(vec![]).await, &["goals"]);
    assert_violations(
        &refused(vec!["goals/nope".into(), "accounts/x".into()]).await,
        &["goals[0]", "goals[1]"],
    );
    let unknown = refused(vec![format!("goals/{}", uuid::Uuid::now_v7())]).await;
    assert_error(&unknown, Code::NotFound, "GOAL_NOT_FOUND");
    let undated = create_goal(
        &app,
        pb::Goal {
            start_time: None,
            deadline: None,
            ..goal(
                "No time frame yet",
                Framework::Okr,
                "2026-01-01T00:00:00Z",
                "2026-02-01T00:00:00Z",
            )
        },
    )
    .await;
    let status = client
        .watch_goal_progress(pb::WatchGoalProgressRequest {
            goals: vec![undated.name],
        })
        .await
        .expect_err("no time frame");
    assert_eq!(status.code(), Code::FailedPrecondition);
}

#[tokio::test]
async fn the_passing_of_a_deadline_sends_the_final_standing() {
    let app = spawn_app().await;
    let now = Utc::now();
    let okr = create_goal(
        &app,
        goal(
            "Ship the launch checklist",
            Framework::Okr,
            &rfc3339(now - TimeDelta::days(1)),
            &rfc3339(now + TimeDelta::seconds(3)),
        ),
    )
    .await;
    add_key_result(&app, &okr, milestone_key_result(&["Plan", "Launch"])).await;
    activate(&app, &okr).await;
    let mut stream = watch(&app, &[&okr]).await;
    let before = next(&mut stream).await;
    assert_eq!(
        pb::ProgressStatus::try_from(before.status),
        Ok(pb::ProgressStatus::OffTrack)
    );
    // No write: the deadline passing alone moves the goal to its verdict.
    let (after, _) = until(&mut stream, |message| {
        message.status == pb::ProgressStatus::Missed as i32
    })
    .await;
    assert_eq!(after.score, 0.0);
}
