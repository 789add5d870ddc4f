//! Progress and QueryMetric read goals, the catalog and series ids through
//! in-process caches: a write must be read next all the same, whichever
//! replica took it and however it was made.

use std::time::{Duration, Instant};

use goalpost::pb;
use goalpost::pb::account::Network;
use goalpost::pb::goal::Framework;
use goalpost::pb::metric_definition::Aggregation;

use super::{
    activate, add_key_result, assert_some_close, at, create_goal, goal, metric_key_result, observe,
    progress_at,
};
use crate::goals::mask;
use crate::helpers::{TestApp, spawn_app};
use crate::metrics::{base_metric, create_metric, derived_metric, metric_client, term};

/// How long another replica, or any replica after a write by hand, may
/// take to hear a change: in practice a millisecond or so; the caches
/// themselves would serve a stale catalog or goal for 30 s.
const HEARD_WITHIN: Duration = Duration::from_secs(5);

/// QueryMetric's value of `metric_key` over `accounts` on 2026-03-01.
async fn value_on_march_first(app: &TestApp, metric_key: &str, accounts: &[&str]) -> Option<f64> {
    metric_client(app)
        .query_metric(pb::QueryMetricRequest {
            metric_key: metric_key.to_owned(),
            accounts: accounts.iter().map(|name| (*name).to_owned()).collect(),
            start: Some(at("2026-03-01T00:00:00Z")),
            end: Some(at("2026-03-02T00:00:00Z")),
            interval: pb::Interval::Day as i32,
        })
        .await
        .expect("query the metric")
        .into_inner()
        .buckets[0]
        .value
}

#[tokio::test]
async fn a_key_result_change_is_read_next_by_progress_on_every_replica() {
    let app = spawn_app().await;
    let replica = app.replica().await;
    observe(&app, &[("likes", "", "2026-03-01T12:00:00Z", 50.0)]).await;
    let okr = create_goal(
        &app,
        goal(
            "Be liked",
            Framework::Okr,
            "2026-01-01T00:00:00Z",
            "2026-07-01T00:00:00Z",
        ),
    )
    .await;
    let key_result = add_key_result(
        &app,
        &okr,
        pb::KeyResult {
            baseline_value: Some(0.0),
            target_value: Some(100.0),
            ..metric_key_result("likes", &[""], 30)
        },
    )
    .await;
    activate(&app, &okr).await;
    let moment = "2026-03-02T00:00:00Z";
    // Both replicas have read (and cached) the goal before the change.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for reader in [&app, &replica] {
        let before = progress_at(reader, &okr, moment).await;
        assert_some_close(before.key_results[0].score, 0.5, "score before");
    }

    app.goals()
        .update_key_result(pb::UpdateKeyResultRequest {
            key_result: Some(pb::KeyResult {
                name: key_result.name.clone(),
                target_value: Some(200.0),
                ..Default::default()
            }),
            update_mask: mask(&["target_value"]),
        })
        .await
        .expect("raise the target");
    let after = progress_at(&app, &okr, moment).await;
    assert_some_close(after.key_results[0].target, 200.0, "target on the writer");
    assert_some_close(after.key_results[0].score, 0.25, "score on the writer");

    let started = Instant::now();
    loop {
        let seen = progress_at(&replica, &okr, moment).await.key_results[0].target;
        if seen == Some(200.0) {
            break;
        }
        assert!(
            started.elapsed() < HEARD_WITHIN,
            "the other replica still reads target {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_metric_created_after_the_catalog_was_cached_is_used_at_once() {
    let app = spawn_app().await;
    observe(
        &app,
        &[
            ("likes", "", "2026-03-01T12:00:00Z", 8.0),
            ("shares", "", "2026-03-01T12:00:00Z", 4.0),
        ],
    )
    .await;
    // The catalog is cached by this read.
    assert_eq!(value_on_march_first(&app, "likes", &[]).await, Some(8.0));
    create_metric(
        &app,
        derived_metric(
            "likes_per_share",
            vec![term("likes", 1.0)],
            vec![term("shares", 1.0)],
            1.0,
        ),
    )
    .await;
    assert_eq!(
        value_on_march_first(&app, "likes_per_share", &[]).await,
        Some(2.0)
    );
}

#[tokio::test]
async fn a_formula_edited_by_hand_is_heard() {
    let app = spawn_app().await;
    create_metric(&app, base_metric("hugs", Aggregation::Sum)).await;
    create_metric(&app, base_metric("days", Aggregation::Sum)).await;
    create_metric(
        &app,
        derived_metric(
            "hug_score",
            vec![term("hugs", 1.0)],
            vec![term("days", 1.0)],
            1.0,
        ),
    )
    .await;
    observe(
        &app,
        &[
            ("hugs", "", "2026-03-01T12:00:00Z", 5.0),
            ("days", "", "2026-03-01T12:00:00Z", 1.0),
        ],
    )
    .await;
    assert_eq!(
        value_on_march_first(&app, "hug_score", &[]).await,
        Some(5.0)
    );

    // A write no replica takes still fires the catalog's trigger.
    sqlx::query(
        "update metric_formula_term set coefficient = 3
         where metric_key = 'hug_score' and term_metric_key = 'hugs'",
    )
    .execute(&app.pool)
    .await
    .expect("edit the formula by hand");
    let started = Instant::now();
    loop {
        let seen = value_on_march_first(&app, "hug_score", &[]).await;
        if seen == Some(15.0) {
            break;
        }
        assert!(
            started.elapsed() < HEARD_WITHIN,
            "the edited formula is still unheard: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_series_created_after_its_selection_was_read_is_counted_at_once() {
    let app = spawn_app().await;
    let first = app.create_account(Network::X, "first").await;
    let second = app.create_account(Network::X, "second").await;
    let both = [first.name.as_str(), second.name.as_str()];
    observe(&app, &[("likes", &first.name, "2026-03-01T09:00:00Z", 3.0)]).await;
    // The first account's series is remembered; the second has none yet.
    assert_eq!(value_on_march_first(&app, "likes", &both).await, Some(3.0));

    observe(
        &app,
        &[("likes", &second.name, "2026-03-01T10:00:00Z", 4.0)],
    )
    .await;
    assert_eq!(value_on_march_first(&app, "likes", &both).await, Some(7.0));
    // Served from remembered ids now, and still exact for each selection.
    assert_eq!(value_on_march_first(&app, "likes", &both).await, Some(7.0));
    assert_eq!(
        value_on_march_first(&app, "likes", &[second.name.as_str()]).await,
        Some(4.0)
    );
}
