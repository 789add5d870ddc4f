//! Progress snapshots: recorded by the server for each UTC midnight of an
//! active goal's time frame and at its closing, equal to what
//! GetGoalProgress answers for the same moment, and never doubled by
//! repeats, a restart or a second replica.

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveTime, TimeDelta, Utc};
use goalpost::pb;
use goalpost::pb::goal::Framework;

use crate::helpers::{TestApp, spawn_app};
use crate::progress::{
    activate, add_key_result, assert_close, create_goal, goal, goal_client, metric_key_result,
    observe, progress_at,
};

fn midnight(days_ago: i64) -> DateTime<Utc> {
    (Utc::now().date_naive() - TimeDelta::days(days_ago))
        .and_time(NaiveTime::MIN)
        .and_utc()
}

/// An active goal that started three and a half days ago, with a week of
/// daily follower counts on the organisation-wide series.
async fn started_goal(app: &TestApp) -> pb::Goal {
    for day in 0..7 {
        let at = midnight(day) + TimeDelta::hours(6);
        observe(
            app,
            &[(
                "followers",
                "",
                &at.to_rfc3339(),
                1000.0 + 10.0 * (7 - day) as f64,
            )],
        )
        .await;
    }
    let start = midnight(4) + TimeDelta::hours(12);
    let okr = create_goal(
        app,
        goal(
            "Grow the audience",
            Framework::Okr,
            &start.to_rfc3339(),
            &(start + TimeDelta::days(30)).to_rfc3339(),
        ),
    )
    .await;
    add_key_result(
        app,
        &okr,
        pb::KeyResult {
            baseline_value: Some(1000.0),
            target_value: Some(1200.0),
            ..metric_key_result("followers", &[""], 1)
        },
    )
    .await;
    activate(app, &okr).await;
    okr
}

async fn snapshot_times(app: &TestApp, goal: &pb::Goal) -> Vec<DateTime<Utc>> {
    sqlx::query_scalar(
        "select as_of from progress_snapshot where 'goals/' || goal_id = $1 order by as_of",
    )
    .bind(&goal.name)
    .fetch_all(&app.pool)
    .await
    .expect("read snapshots")
}

/// Waits until the goal has `count` snapshots.
async fn wait_for_snapshots(app: &TestApp, goal: &pb::Goal, count: usize) -> Vec<DateTime<Utc>> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let times = snapshot_times(app, goal).await;
        if times.len() >= count || Instant::now() > deadline {
            return times;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn activating_a_goal_records_each_midnight_since_its_start_as_the_engine_computes_it() {
    let app = spawn_app().await;
    let okr = started_goal(&app).await;
    let times = wait_for_snapshots(&app, &okr, 4).await;
    assert_eq!(times, [midnight(3), midnight(2), midnight(1), midnight(0)]);

    for at in times {
        let answer = progress_at(&app, &okr, &at.to_rfc3339()).await;
        let (score, expected, status, grade, complete): (f64, f64, String, String, bool) =
            sqlx::query_as(
                "select score, expected, status, grade, complete from progress_snapshot
                 where as_of = $1",
            )
            .bind(at)
            .fetch_one(&app.pool)
            .await
            .expect("a snapshot");
        assert_close(score, answer.score, "score");
        assert_close(expected, answer.expected, "expected");
        let answered_status = pb::ProgressStatus::try_from(answer.status).unwrap();
        assert_eq!(
            answered_status.as_str_name(),
            format!("PROGRESS_STATUS_{status}")
        );
        let answered_grade = pb::Grade::try_from(answer.grade).unwrap();
        assert_eq!(answered_grade.as_str_name(), format!("GRADE_{grade}"));
        assert_eq!(complete, answer.complete);
        let (current, kr_score, kr_expected): (Option<f64>, Option<f64>, f64) = sqlx::query_as(
            "select current, score, expected from key_result_progress_snapshot where as_of = $1",
        )
        .bind(at)
        .fetch_one(&app.pool)
        .await
        .expect("a key result snapshot");
        let key_result = &answer.key_results[0];
        assert_eq!(current, key_result.current, "current at {at}");
        assert_eq!(kr_score, key_result.score, "score at {at}");
        assert_close(kr_expected, key_result.expected, "expected");
    }
}

#[tokio::test]
async fn recording_again_changes_nothing_and_the_next_midnight_adds_one() {
    let app = spawn_app().await;
    let okr = started_goal(&app).await;
    wait_for_snapshots(&app, &okr, 4).await;
    let now = Utc::now();
    assert_eq!(
        goalpost::snapshots::record_due(&app.pool, now)
            .await
            .unwrap(),
        0
    );
    assert_eq!(snapshot_times(&app, &okr).await.len(), 4);

    // A simulated day boundary: the clock one day on.
    let tomorrow = now + TimeDelta::days(1);
    assert_eq!(
        goalpost::snapshots::record_due(&app.pool, tomorrow)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        goalpost::snapshots::record_due(&app.pool, tomorrow)
            .await
            .unwrap(),
        0
    );
    let times = snapshot_times(&app, &okr).await;
    assert_eq!(times.last(), Some(&(midnight(0) + TimeDelta::days(1))));
    assert_eq!(app.count("key_result_progress_snapshot").await, 5);
}

#[tokio::test]
async fn replicas_recording_at_once_do_not_double_snapshots() {
    let app = spawn_app().await;
    let replicas = [app.replica().await, app.replica().await];
    let okr = started_goal(&app).await;
    // Every server's recorder races for the same midnights, and so do these.
    let later = Utc::now() + TimeDelta::days(2);
    let racers: Vec<_> = (0..4)
        .map(|_| {
            let pool = app.pool.clone();
            tokio::spawn(async move { goalpost::snapshots::record_due(&pool, later).await })
        })
        .collect();
    let mut written = 0;
    for racer in racers {
        written += racer.await.unwrap().expect("record snapshots");
    }
    let times = wait_for_snapshots(&app, &okr, 6).await;
    assert_eq!(times.len(), 6, "four past midnights and two simulated ones");
    assert!(written <= 6);
    let distinct: i64 = sqlx::query_scalar("select count(distinct as_of) from progress_snapshot")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(distinct, 6);
    assert_eq!(app.count("key_result_progress_snapshot").await, 6);
    drop(replicas);
}

#[tokio::test]
async fn closing_a_goal_records_its_final_numbers() {
    let app = spawn_app().await;
    let okr = started_goal(&app).await;
    let closed = goal_client(&app)
        .close_goal(pb::CloseGoalRequest {
            name: okr.name.clone(),
            etag: String::new(),
        })
        .await
        .expect("close the goal")
        .into_inner();
    let (reason, score, as_of): (String, f64, DateTime<Utc>) =
        sqlx::query_as("select reason, score, as_of from progress_snapshot where reason = 'CLOSE'")
            .fetch_one(&app.pool)
            .await
            .expect("a closing snapshot");
    assert_eq!(reason, "CLOSE");
    let closing = closed.closing.expect("the closing numbers");
    assert_close(score, closing.score, "final score");
    let close_time = closing.close_time.expect("a close time");
    assert_eq!(as_of.timestamp(), close_time.seconds);
    // A closed goal gets no more daily snapshots.
    let before = app.count("progress_snapshot").await;
    goalpost::snapshots::record_due(&app.pool, Utc::now() + TimeDelta::days(3))
        .await
        .unwrap();
    assert_eq!(app.count("progress_snapshot").await, before);
}
