//! What operators get: Prometheus metrics at `/metrics` on
//! `--metrics-addr`, scraped here with a plain HTTP GET, and JSON log lines
//! with `--log-format json`.
//!
//! The recorder is process-wide and the tests of this binary run side by
//! side, so in-process checks compare a scrape before and after their
//! calls and expect at least their own; the test that runs the `goalpost`
//! binary has its process alone and checks exact counts.

use std::time::Duration;

use goalpost::pb;
use goalpost::pb::audit_service_client::AuditServiceClient;
use goalpost::pb::metric_service_client::MetricServiceClient;
use http::uri::PathAndQuery;
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use self::scrape::{Scrape, Wanted, http_get};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::progress::{
    activate, add_key_result, create_goal, goal, metric_key_result, progress_client,
};

mod binary;
mod scrape;

/// The labels of calls of `method` of `service` that ended with `code`.
pub(crate) fn call<'a>(
    service: &'a str,
    method: &'a str,
    code: &'a str,
) -> [(&'a str, &'a str); 3] {
    [("service", service), ("method", method), ("code", code)]
}

/// The `service` label of AuditService calls.
pub(crate) const AUDITS: &str = "goalpost.v1.AuditService";
/// The `service` label of MetricService calls.
pub(crate) const METRICS: &str = "goalpost.v1.MetricService";
/// The `service` label of health checks.
pub(crate) const HEALTH: &str = "grpc.health.v1.Health";
/// Calls finished, by service, method and code.
pub(crate) const REQUESTS: &str = "goalpost_grpc_requests_total";
/// Observations stored, by the method that stored them.
pub(crate) const INGESTED: &str = "goalpost_observations_ingested_total";

/// `count` org-wide impressions, an hour apart from `hour`.
fn impressions(hour: i64, count: i64) -> Vec<pb::Observation> {
    (hour..hour + count)
        .map(|hour| pb::Observation {
            metric_key: "impressions".into(),
            observed_at: Some(prost_types::Timestamp {
                seconds: 1_767_225_600 + hour * 3600,
                nanos: 0,
            }),
            value: 10.0,
            ..Default::default()
        })
        .collect()
}

pub(crate) async fn check_health(channel: Channel) {
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("a health check");
}

/// GetAccount with a malformed name: INVALID_ARGUMENT.
pub(crate) async fn get_malformed_account(channel: Channel) {
    let status = AuditServiceClient::new(channel)
        .get_account(pb::GetAccountRequest {
            name: "not-an-account".into(),
        })
        .await
        .expect_err("a malformed name");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
}

pub(crate) async fn write_impressions(channel: Channel, rows: i64) {
    let written = MetricServiceClient::new(channel)
        .write_observations(pb::WriteObservationsRequest {
            observations: impressions(0, rows),
        })
        .await
        .expect("write observations")
        .into_inner();
    assert_eq!(written.observation_count, rows);
}

/// Calls a method no service has, as a confused or hostile client would.
async fn call_invented_method(channel: Channel) -> Code {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("a ready channel");
    grpc.unary(
        tonic::Request::new(()),
        PathAndQuery::from_static("/goalpost.v1.GoalService/DropEverything"),
        tonic_prost::ProstCodec::<(), ()>::default(),
    )
    .await
    .expect_err("no such method")
    .code()
}

#[tokio::test]
async fn metrics_count_calls_by_method_and_code_ingested_rows_and_pool_use() {
    let app = spawn_app_with(|settings| {
        settings.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
        settings.db_max_connections = 7;
    })
    .await;
    let address = app.metrics_addr.expect("a metrics endpoint");
    let before = Scrape::of(address).await;

    check_health(app.channel.clone()).await;
    get_malformed_account(app.channel.clone()).await;
    write_impressions(app.channel.clone(), 3).await;
    let chunks = [impressions(100, 2), impressions(200, 2)]
        .map(|observations| pb::StreamObservationsRequest { observations });
    let streamed = MetricServiceClient::new(app.channel.clone())
        .stream_observations(tokio_stream::iter(chunks))
        .await
        .expect("stream observations")
        .into_inner();
    assert_eq!(streamed.observation_count, 4);
    assert_eq!(
        call_invented_method(app.channel.clone()).await,
        Code::Unimplemented
    );

    let after = Scrape::of(address).await;
    let grew = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - before.value(name, labels)
    };
    let cases: [(&str, &str, Wanted, f64); 9] = [
        (
            "a health check",
            REQUESTS,
            &call(HEALTH, "Check", "OK"),
            1.0,
        ),
        (
            "a refused call, with its code",
            REQUESTS,
            &call(AUDITS, "GetAccount", "INVALID_ARGUMENT"),
            1.0,
        ),
        (
            "a batch write",
            REQUESTS,
            &call(METRICS, "WriteObservations", "OK"),
            1.0,
        ),
        (
            "a stream, once it ended",
            REQUESTS,
            &call(METRICS, "StreamObservations", "OK"),
            1.0,
        ),
        (
            "an invented method, under one label",
            REQUESTS,
            &call("unknown", "unknown", "UNIMPLEMENTED"),
            1.0,
        ),
        (
            "the refused call's latency",
            "goalpost_grpc_request_duration_seconds_count",
            &call(AUDITS, "GetAccount", "INVALID_ARGUMENT"),
            1.0,
        ),
        (
            "rows written in batches",
            INGESTED,
            &[("method", "WriteObservations")],
            3.0,
        ),
        (
            "rows streamed",
            INGESTED,
            &[("method", "StreamObservations")],
            4.0,
        ),
        (
            "streams by their rows",
            "goalpost_stream_observations_rows_count",
            &[],
            1.0,
        ),
    ];
    for (description, name, labels, at_least) in cases {
        let growth = grew(name, labels);
        assert!(
            growth >= at_least,
            "{description}: {name} {labels:?} grew by {growth}"
        );
    }
    // A stream of 4 rows lands in the bucket of at most 10.
    assert!(
        after.value("goalpost_stream_observations_rows_bucket", &[("le", "10")])
            > before.value("goalpost_stream_observations_rows_bucket", &[("le", "10")])
    );
    assert!(
        !after
            .0
            .get(REQUESTS)
            .into_iter()
            .flatten()
            .any(|(labels, _)| labels.get("method").is_some_and(|m| m == "DropEverything")),
        "an invented method became a label"
    );
    // Sampled at the scrape from this server's own pool and hub.
    assert_eq!(after.value("goalpost_db_pool_max_connections", &[]), 7.0);
    let connections = after.value("goalpost_db_pool_connections", &[]);
    assert!(
        (1.0..=7.0).contains(&connections),
        "{connections} connections"
    );
    assert!(after.value("goalpost_db_pool_idle_connections", &[]) <= connections);
    assert_eq!(
        after.value("goalpost_watch_subscribers", &[]),
        app.hub.subscribers() as f64
    );
    // Present from the start, so an alert on it needs no absent() guard.
    assert!(after.has("goalpost_db_pool_acquire_timeouts_total"));
    assert!(after.has("goalpost_abandoned_statements_cancelled_total"));
    assert!(after.has("goalpost_goal_cache_reads_total"));
    assert!(after.value("process_resident_memory_bytes", &[]) > 0.0);
}

/// An active goal on organisation-wide impressions, to watch.
async fn active_goal(app: &TestApp) -> pb::Goal {
    let now = chrono::Utc::now();
    let smart = create_goal(
        app,
        goal(
            "Reach more people with every post",
            pb::goal::Framework::Smart,
            &(now - chrono::TimeDelta::days(1)).to_rfc3339(),
            &(now + chrono::TimeDelta::days(30)).to_rfc3339(),
        ),
    )
    .await;
    add_key_result(
        app,
        &smart,
        pb::KeyResult {
            baseline_value: Some(0.0),
            target_value: Some(100.0),
            ..metric_key_result("impressions", &[], 30)
        },
    )
    .await;
    activate(app, &smart).await;
    smart
}

#[tokio::test]
async fn an_open_watch_is_in_flight_and_counts_as_cancelled_once_the_client_leaves() {
    let app = spawn_app_with(|settings| {
        settings.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let address = app.metrics_addr.expect("a metrics endpoint");
    let smart = active_goal(&app).await;
    const PROGRESS: &str = "goalpost.v1.ProgressService";
    let watching = [("service", PROGRESS), ("method", "WatchGoalProgress")];
    let cancelled = call(PROGRESS, "WatchGoalProgress", "CANCELLED");
    let before = Scrape::of(address).await;

    let mut stream = progress_client(&app)
        .watch_goal_progress(pb::WatchGoalProgressRequest {
            goals: vec![smart.name.clone()],
        })
        .await
        .expect("start watching")
        .into_inner();
    tokio::time::timeout(Duration::from_secs(30), stream.message())
        .await
        .expect("a first message in time")
        .expect("the watch goes on")
        .expect("a first message");
    let open = Scrape::of(address).await;
    // Other tests' watches come and go meanwhile: only ours is sure.
    assert!(open.value("goalpost_grpc_requests_in_flight", &watching) >= 1.0);
    assert_eq!(
        open.value("goalpost_watch_subscribers", &[]),
        app.hub.subscribers() as f64
    );
    assert!(open.value("goalpost_watch_subscribers", &[]) >= 1.0);

    drop(stream);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now = Scrape::of(address).await;
        if now.value(REQUESTS, &cancelled) > before.value(REQUESTS, &cancelled) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the abandoned watch was never counted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_metrics_endpoint_answers_only_at_its_path() {
    let app = spawn_app_with(|settings| {
        settings.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let address = app.metrics_addr.expect("a metrics endpoint");
    assert_eq!(http_get(address, "/").await.status, 404);
    assert_eq!(http_get(address, "/metrics/extra").await.status, 404);
    assert_eq!(http_get(address, "/metrics").await.status, 200);
}

#[tokio::test]
async fn no_metrics_address_means_no_endpoint() {
    let app = spawn_app().await;
    assert_eq!(app.metrics_addr, None);
}
