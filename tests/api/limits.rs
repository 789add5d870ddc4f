//! Deadlines and overload: a call's deadline (the client's, else the
//! server's default) ends the call and the database statement it started,
//! and so does the client giving up;
//! calls over the concurrency limit are refused at once; a shutdown during
//! a stream leaves nothing of it.

use std::time::{Duration, Instant};

use goalpost::pb;
use prost_types::{FieldMask, Timestamp};
use sqlx::{Connection, PgConnection};
use tonic::{Code, Request};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::{TestApp, assert_error, spawn_app, spawn_app_with};

/// Locks `account`'s row until the returned connection commits or drops,
/// so that a call changing the account waits on it.
async fn hold_account_lock(app: &TestApp, account: &pb::Account) -> PgConnection {
    let id = account.name.trim_start_matches("accounts/");
    let mut holder = PgConnection::connect(app.database_url()).await.unwrap();
    sqlx::query("begin").execute(&mut holder).await.unwrap();
    sqlx::query("select 1 from account where account_id = $1::uuid for update")
        .bind(id)
        .execute(&mut holder)
        .await
        .unwrap();
    holder
}

fn rename_owner(account: &pb::Account, owner: &str) -> pb::UpdateAccountRequest {
    pb::UpdateAccountRequest {
        account: Some(pb::Account {
            name: account.name.clone(),
            owner: owner.into(),
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["owner".into()],
        }),
    }
}

/// Asserts that `account`'s owner is still the one it was created with.
async fn assert_owner_unchanged(app: &TestApp, account: &pb::Account, why: &str) {
    let stored = app
        .audits()
        .get_account(pb::GetAccountRequest {
            name: account.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.owner, account.owner, "{why}");
}

/// Statements of the service's connections still waiting on a lock.
async fn waiting_statements(app: &TestApp) -> i64 {
    sqlx::query_scalar(
        "select count(*) from pg_stat_activity
         where datname = current_database() and wait_event_type = 'Lock'
           and query like '%account%'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

/// Polls until no statement waits on a lock, failing after `within`.
async fn assert_no_statement_left_waiting(app: &TestApp, within: Duration) {
    let deadline = Instant::now() + within;
    while waiting_statements(app).await > 0 {
        assert!(
            Instant::now() < deadline,
            "a statement of a call that ran out of time is still running"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_client_deadline_ends_the_call_and_its_statement() {
    let app = spawn_app().await;
    let account = app
        .create_account(pb::account::Network::Instagram, "deadline")
        .await;
    let holder = hold_account_lock(&app, &account).await;

    let mut request = Request::new(rename_owner(&account, "too late"));
    request.set_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let status = app.audits().update_account(request).await.unwrap_err();
    // The client's own timer and the server's answer (DEADLINE_EXCEEDED)
    // come at the same moment; tonic's client reports its timer as
    // CANCELLED. The server's answer itself is checked in the next test.
    assert!(
        matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{status:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // PostgreSQL stopped the update itself: nothing waits for the lock.
    assert_no_statement_left_waiting(&app, Duration::from_secs(2)).await;
    drop(holder);
    assert_owner_unchanged(&app, &account, "the timed-out update changed nothing").await;
    // The connection it used serves the next call as usual.
    app.audits()
        .update_account(rename_owner(&account, "on time"))
        .await
        .unwrap();
}

#[tokio::test]
async fn calls_without_a_deadline_get_the_servers_default_budget() {
    let app = spawn_app_with(|settings| settings.call_timeout_secs = 1).await;
    let account = app
        .create_account(pb::account::Network::Instagram, "default_budget")
        .await;
    let holder = hold_account_lock(&app, &account).await;
    let started = Instant::now();
    let status = app
        .audits()
        .update_account(rename_owner(&account, "never"))
        .await
        .unwrap_err();
    assert_error(&status, Code::DeadlineExceeded, "DEADLINE_EXCEEDED");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_no_statement_left_waiting(&app, Duration::from_secs(2)).await;
    drop(holder);
}

#[tokio::test]
async fn a_call_its_client_abandons_stops_its_statement_at_once() {
    // The default budget is far longer than the test: only the cancel can
    // stop the statement in time.
    let app = spawn_app().await;
    let account = app
        .create_account(pb::account::Network::Instagram, "abandoned")
        .await;
    let holder = hold_account_lock(&app, &account).await;

    let mut client = app.audits();
    let waiting = client.update_account(rename_owner(&account, "given up"));
    let given_up = tokio::time::timeout(Duration::from_millis(500), waiting).await;
    assert!(given_up.is_err(), "the update waits on the lock");
    // Dropping the call's future resets its stream: the client is gone.
    assert_no_statement_left_waiting(&app, Duration::from_secs(2)).await;
    drop(holder);
    assert_owner_unchanged(&app, &account, "the abandoned update changed nothing").await;
    // Calls after it are served as usual, however many connections the
    // cancel cost.
    for owner in ["first after", "second after", "third after"] {
        app.audits()
            .update_account(rename_owner(&account, owner))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn calls_over_the_concurrency_limit_are_refused_at_once() {
    let app = spawn_app_with(|settings| settings.max_concurrent_calls = 2).await;
    let account = app
        .create_account(pb::account::Network::Instagram, "crowded")
        .await;
    let holder = hold_account_lock(&app, &account).await;
    let mut blocked = Vec::new();
    for owner in ["first", "second"] {
        let mut audits = app.audits();
        let request = rename_owner(&account, owner);
        blocked.push(tokio::spawn(
            async move { audits.update_account(request).await },
        ));
    }
    // Both take their places and wait on the lock.
    let deadline = Instant::now() + Duration::from_secs(5);
    while waiting_statements(&app).await < 1 {
        assert!(Instant::now() < deadline, "the blocked calls never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;

    let started = Instant::now();
    let status = app
        .audits()
        .get_account(pb::GetAccountRequest {
            name: account.name.clone(),
        })
        .await
        .unwrap_err();
    assert_error(&status, Code::ResourceExhausted, "TOO_MANY_CALLS");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // Health is never refused.
    HealthClient::new(app.channel.clone())
        .check(HealthCheckRequest::default())
        .await
        .unwrap();

    drop(holder);
    for call in blocked {
        call.await.unwrap().unwrap();
    }
    app.audits()
        .get_account(pb::GetAccountRequest {
            name: account.name.clone(),
        })
        .await
        .unwrap();
}

fn observation(account: &pb::Account, day: i64) -> pb::Observation {
    pb::Observation {
        account: account.name.clone(),
        metric_key: "likes".into(),
        observed_at: Some(Timestamp {
            seconds: 1_767_225_600 + day * 86_400,
            nanos: 0,
        }),
        value: day as f64,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_shutdown_during_a_stream_stores_nothing_of_it() {
    let app = spawn_app_with(|settings| settings.shutdown_grace_secs = 1).await;
    let account = app
        .create_account(pb::account::Network::Instagram, "streaming")
        .await;
    let database_url = app.database_url().to_owned();
    let (chunks, receiver) = tokio::sync::mpsc::channel::<pb::StreamObservationsRequest>(4);
    let mut metrics =
        goalpost::pb::metric_service_client::MetricServiceClient::new(app.channel.clone());
    let stream = tokio::spawn(async move {
        metrics
            .stream_observations(tokio_stream::wrappers::ReceiverStream::new(receiver))
            .await
    });
    for chunk in 0..3 {
        let observations = (0..100)
            .map(|day| observation(&account, chunk * 100 + day))
            .collect();
        chunks
            .send(pb::StreamObservationsRequest { observations })
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The server stops with the stream still open.
    let stopped = Instant::now();
    app.stop().await;
    assert!(
        stopped.elapsed() < Duration::from_secs(10),
        "{:?}",
        stopped.elapsed()
    );
    let answer = tokio::time::timeout(Duration::from_secs(10), stream)
        .await
        .expect("the stream ends with the server")
        .unwrap();
    assert!(
        answer.is_err(),
        "an unfinished stream was acknowledged: {answer:?}"
    );
    drop(chunks);
    let mut check = PgConnection::connect(&database_url).await.unwrap();
    let stored: i64 = sqlx::query_scalar("select count(*) from observation")
        .fetch_one(&mut check)
        .await
        .unwrap();
    assert_eq!(stored, 0, "part of an unacknowledged stream was stored");
}

#[tokio::test]
async fn message_and_batch_limits_follow_the_settings() {
    let app = spawn_app_with(|settings| {
        settings.max_rows_per_message = 5;
        settings.max_message_mib = 1;
    })
    .await;
    let account = app
        .create_account(pb::account::Network::Instagram, "limited")
        .await;
    let mut metrics =
        goalpost::pb::metric_service_client::MetricServiceClient::new(app.channel.clone());
    let rows = |count: i64| (0..count).map(|day| observation(&account, day)).collect();
    metrics
        .write_observations(pb::WriteObservationsRequest {
            observations: rows(5),
        })
        .await
        .unwrap();
    let status = metrics
        .write_observations(pb::WriteObservationsRequest {
            observations: rows(6),
        })
        .await
        .unwrap_err();
    assert_error(&status, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert!(status.message().contains("at most 5"), "{status:?}");

    let mut oversized = observation(&account, 0);
    oversized.source = "s".repeat(2 * 1024 * 1024);
    let status = metrics
        .write_observations(pb::WriteObservationsRequest {
            observations: vec![oversized],
        })
        .await
        .unwrap_err();
    assert_error(&status, Code::ResourceExhausted, "MESSAGE_TOO_LARGE");
    assert!(status.message().contains("1 MiB"), "{status:?}");
    assert_eq!(app.count("observation").await, 5);
}

#[tokio::test]
async fn page_sizes_follow_the_settings() {
    let app = spawn_app_with(|settings| {
        settings.default_page_size = 2;
        settings.max_page_size = 3;
    })
    .await;
    for handle in ["one", "two", "three", "four"] {
        app.create_account(pb::account::Network::Instagram, handle)
            .await;
    }
    let list = |page_size: i32| {
        let mut client = app.audits();
        async move {
            client
                .list_accounts(pb::ListAccountsRequest {
                    page_size,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
        }
    };
    let by_default = list(0).await;
    assert_eq!(by_default.accounts.len(), 2, "the server's default");
    assert!(!by_default.next_page_token.is_empty());
    let capped = list(1_000).await;
    assert_eq!(capped.accounts.len(), 3, "the server's cap");
    assert!(!capped.next_page_token.is_empty());

    // The metric catalog, shared by every method with a page, is capped
    // the same way.
    let mut metrics =
        goalpost::pb::metric_service_client::MetricServiceClient::new(app.channel.clone());
    let definitions = metrics
        .list_metric_definitions(pb::ListMetricDefinitionsRequest {
            page_size: 1_000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(definitions.metric_definitions.len(), 3);
}
