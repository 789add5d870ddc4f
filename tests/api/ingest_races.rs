//! Ingestion under concurrency: streams competing for a small connection
//! pool, idle streams, accounts deleted while their data arrives, and
//! overlapping backfills.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use goalpost::pb;
use goalpost::pb::account::Network;
use goalpost::pb::audit_service_client::AuditServiceClient;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::helpers::{TestApp, assert_error, spawn_app, spawn_app_with};
use crate::metrics::metric_client;
use crate::observations::{
    assert_rollups_match_observations, list_all, obs, stored, t, transactions_end_within, write,
};

/// A StreamObservations call fed chunk by chunk, to pause it at will.
pub(crate) struct OpenStream {
    chunks: Option<mpsc::Sender<pb::StreamObservationsRequest>>,
    call: JoinHandle<Result<pb::StreamObservationsResponse, Status>>,
}

impl OpenStream {
    pub(crate) fn start(app: &TestApp) -> OpenStream {
        let (chunks, receiver) = mpsc::channel(4);
        let mut client = metric_client(app);
        let call = tokio::spawn(async move {
            client
                .stream_observations(ReceiverStream::new(receiver))
                .await
                .map(|response| response.into_inner())
        });
        OpenStream {
            chunks: Some(chunks),
            call,
        }
    }

    /// Sends rows in chunks of 10,000; false once the server ended the call.
    pub(crate) async fn send(&self, rows: &[pb::Observation]) -> bool {
        for chunk in rows.chunks(10_000) {
            let request = pb::StreamObservationsRequest {
                observations: chunk.to_vec(),
            };
            let sender = self.chunks.as_ref().expect("the stream is open");
            if sender.send(request).await.is_err() {
                return false;
            }
        }
        true
    }

    /// Ends the stream and waits for the answer.
    pub(crate) async fn finish(mut self) -> Result<pb::StreamObservationsResponse, Status> {
        self.chunks.take();
        self.call.await.expect("the call task")
    }

    /// The answer, if the server ended the call within `limit`.
    async fn answer_within(
        &mut self,
        limit: Duration,
    ) -> Option<Result<pb::StreamObservationsResponse, Status>> {
        let answer = tokio::time::timeout(limit, &mut self.call).await.ok()?;
        Some(answer.expect("the call task"))
    }
}

/// `count` rows of `metric` on `account`, one every `step` from `from`.
fn series_rows(
    metric: &str,
    account: &str,
    from: DateTime<Utc>,
    step: TimeDelta,
    count: i64,
    value: f64,
) -> Vec<pb::Observation> {
    (0..count)
        .map(|i| obs(metric, account, from + step * i as i32, value))
        .collect()
}

#[tokio::test]
async fn streams_beyond_the_limit_are_refused_at_once_and_other_calls_keep_answering() {
    // Two connections: one stream may load, the other connection stays free.
    let app = spawn_app_with(|settings| settings.db_max_connections = 2).await;
    let account = app.create_account(Network::Facebook, "busy").await.name;
    let day = t("2026-04-01T00:00:00Z");
    let mut streams = Vec::new();
    for i in 0..3 {
        let open = OpenStream::start(&app);
        let at = day + TimeDelta::hours(i);
        open.send(&[obs("likes", &account, at, 1.0)]).await;
        streams.push(open);
    }
    // One goes on; the others are refused within moments, not after a
    // pool timeout.
    let mut running = Vec::new();
    for mut open in streams {
        match open.answer_within(Duration::from_secs(2)).await {
            None => running.push(open),
            Some(Err(status)) => assert_error(&status, Code::ResourceExhausted, "TOO_MANY_STREAMS"),
            Some(Ok(response)) => panic!("a paused stream was answered: {response:?}"),
        }
    }
    assert_eq!(running.len(), 1, "all but one stream is refused");

    // Meanwhile other calls answer promptly, writes included.
    for _ in 0..5 {
        let started = Instant::now();
        app.audits()
            .get_account(pb::GetAccountRequest {
                name: account.clone(),
            })
            .await
            .unwrap();
        write(&app, vec![obs("likes", &account, day, 5.0)])
            .await
            .unwrap();
        list_all(&app, "metric_key = \"likes\"").await;
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "calls beside a paused stream took {:?}",
            started.elapsed()
        );
    }
    for open in running {
        assert_eq!(open.finish().await.unwrap().observation_count, 1);
    }
    // The slot is free again.
    let again = OpenStream::start(&app);
    again
        .send(&[obs("likes", &account, day + TimeDelta::hours(5), 1.0)])
        .await;
    again.finish().await.unwrap();
    assert_rollups_match_observations(&app).await;
}

#[tokio::test]
async fn an_idle_stream_is_ended_and_stores_nothing() {
    let app = spawn_app_with(|settings| settings.stream_idle_timeout_secs = 1).await;
    let account = app.create_account(Network::X, "idle").await.name;
    let before = stored(&app).await;
    let mut open = OpenStream::start(&app);
    // A full batch, so the stream has loaded rows in an open transaction.
    let rows = series_rows(
        "likes",
        &account,
        t("2026-04-02T00:00:00Z"),
        TimeDelta::seconds(1),
        60_000,
        1.0,
    );
    assert!(open.send(&rows).await);
    let status = open
        .answer_within(Duration::from_secs(15))
        .await
        .expect("the idle stream is ended")
        .unwrap_err();
    assert_error(&status, Code::DeadlineExceeded, "STREAM_IDLE");
    assert!(transactions_end_within(&app, Duration::from_secs(5)).await);
    assert_eq!(stored(&app).await, before);
}

#[tokio::test]
async fn completing_audits_on_a_small_pool_does_not_starve_it() {
    let app = spawn_app_with(|settings| settings.db_max_connections = 2).await;
    let mut audits = Vec::new();
    for i in 0..6 {
        let account = app
            .create_account(Network::Linkedin, &format!("audited{i}"))
            .await
            .name;
        let audit = app
            .audits()
            .create_audit(pb::CreateAuditRequest {
                audit: Some(pb::Audit {
                    title: format!("Audit {i}"),
                    as_of: Some(crate::observations::ts(t("2026-04-03T12:00:00Z"))),
                    entries: vec![pb::AuditEntry {
                        account,
                        metrics: [("followers".to_owned(), 100.0 + i as f64)].into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        audits.push(audit.name);
    }
    let started = Instant::now();
    let completions = audits.into_iter().map(|name| {
        let mut client = app.audits();
        tokio::spawn(async move {
            client
                .complete_audit(pb::CompleteAuditRequest {
                    name,
                    etag: String::new(),
                })
                .await
        })
    });
    for completion in completions.collect::<Vec<_>>() {
        completion.await.unwrap().expect("an audit completes");
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(list_all(&app, "").await.len(), 6);
}

/// How many stored rows belong to no series: rows no query can reach.
pub(crate) async fn orphaned_rows(app: &TestApp) -> i64 {
    sqlx::query_scalar(
        "select count(*) from observation o
         where not exists (select 1 from series s where s.series_id = o.series_id)",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

/// DeleteAccount of `name` through `client`; owning both, the call can be
/// spawned.
pub(crate) async fn delete_account(
    mut client: AuditServiceClient<Channel>,
    name: String,
) -> Result<(), Status> {
    client
        .delete_account(pb::DeleteAccountRequest {
            name,
            etag: String::new(),
        })
        .await
        .map(drop)
}

/// Waits until a load in this test's database holds its accounts (`for key
/// share`, a RowShareLock on `account`) in the same transaction that has
/// written observations: its first batch is in. (Creating a series takes
/// the same lock for its foreign key check, briefly, in a transaction of
/// its own; that one does not count.) Polled, so the test does not depend
/// on how fast a busy machine loads.
async fn wait_for_account_hold(app: &TestApp) {
    for _ in 0..600 {
        let held: bool = sqlx::query_scalar(
            "select exists (
                 select 1
                 from pg_locks a join pg_class ca on ca.oid = a.relation
                 join pg_locks o on o.pid = a.pid join pg_class co on co.oid = o.relation
                 where a.database = (select oid from pg_database where datname = current_database())
                   and ca.relname = 'account' and a.mode = 'RowShareLock' and a.granted
                   and co.relname like 'observation_y%' and o.mode = 'RowExclusiveLock' and o.granted
             )",
        )
        .fetch_one(&app.pool)
        .await
        .expect("read pg_locks");
        if held {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the stream never loaded its first batch");
}

#[tokio::test]
async fn a_delete_during_a_stream_waits_for_it_and_then_refuses() {
    let app = spawn_app().await;
    let account = app.create_account(Network::Youtube, "busy").await.name;
    let open = OpenStream::start(&app);
    let rows = series_rows(
        "likes",
        &account,
        t("2026-04-04T00:00:00Z"),
        TimeDelta::seconds(1),
        60_000,
        2.0,
    );
    assert!(open.send(&rows).await);
    wait_for_account_hold(&app).await;
    let deleting = tokio::spawn(delete_account(app.audits(), account.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    if deleting.is_finished() {
        panic!(
            "the delete did not wait for the stream: {:?}",
            deleting.await
        );
    }
    let response = open.finish().await.unwrap();
    assert_eq!(response.observation_count, 60_000);
    let status = deleting.await.unwrap().unwrap_err();
    assert_error(
        &status,
        Code::FailedPrecondition,
        "ACCOUNT_HAS_OBSERVATIONS",
    );
    assert_eq!(
        list_all(&app, &format!("account = \"{account}\""))
            .await
            .len(),
        60_000,
        "every acknowledged row is readable"
    );
    assert_eq!(orphaned_rows(&app).await, 0);
}

#[tokio::test]
async fn a_stream_whose_account_was_deleted_before_it_loaded_stores_nothing() {
    let app = spawn_app().await;
    let account = app.create_account(Network::Snapchat, "gone").await.name;
    let before = stored(&app).await;
    let open = OpenStream::start(&app);
    // Checked and resolved, but not loaded yet (less than a batch).
    assert!(
        open.send(&[obs("likes", &account, t("2026-04-05T10:00:00Z"), 1.0)])
            .await
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    delete_account(app.audits(), account.clone()).await.unwrap();
    let status = open.finish().await.unwrap_err();
    assert_error(&status, Code::FailedPrecondition, "ACCOUNT_DELETED");
    assert_eq!(stored(&app).await, before);
    assert_eq!(orphaned_rows(&app).await, 0);
}

#[tokio::test]
async fn overlapping_backfills_both_succeed() {
    let app = spawn_app().await;
    let mut accounts = Vec::new();
    for i in 0..10 {
        accounts.push(
            app.create_account(Network::Threads, &format!("a{i}"))
                .await
                .name,
        );
    }
    let start = t("1970-01-02T00:00:00Z");
    // Ten series over the same 20,000 new days (a row every other day),
    // sent series by series, one load in the other order (and at other
    // times of day) than the other. Each load is two batches of five
    // series, so their days reach the end of each load in crossing orders:
    // one begins with the series the other ends with.
    let backfill = |offset: TimeDelta, accounts: Vec<&String>| -> Vec<pb::Observation> {
        accounts
            .into_iter()
            .flat_map(|account| {
                series_rows(
                    "likes",
                    account,
                    start + offset,
                    TimeDelta::days(2),
                    10_000,
                    1.0,
                )
            })
            .collect()
    };
    let forward = backfill(TimeDelta::zero(), accounts.iter().collect());
    let backward = backfill(TimeDelta::hours(12), accounts.iter().rev().collect());
    // The forward backfill again, as a client retrying too early would: it
    // waits for the first to commit, then replaces nothing.
    let retry = forward.clone();
    let retrying = {
        let open = OpenStream::start(&app);
        tokio::spawn(async move {
            assert!(open.send(&retry).await);
            open.finish().await
        })
    };
    let (one, other) = (OpenStream::start(&app), OpenStream::start(&app));
    let (sent_one, sent_other) = tokio::join!(one.send(&forward), other.send(&backward));
    assert!(sent_one && sent_other, "every chunk was sent");
    // End both at once, so their rollup merges meet.
    let (one, other) = tokio::join!(one.finish(), other.finish());
    for (name, answer) in [("forward", one), ("backward", other)] {
        let response = answer.unwrap_or_else(|status| panic!("{name}: {status:?}"));
        assert_eq!(response.observation_count, 100_000);
    }
    let retried = retrying.await.unwrap().expect("the early retry succeeds");
    assert_eq!(retried.observation_count, 100_000);
    assert_rollups_match_observations(&app).await;
    let stored: i64 = sqlx::query_scalar("select count(*) from observation")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, 200_000);
}

#[tokio::test]
async fn audits_completed_at_once_over_the_same_keys_all_succeed() {
    // Each completed audit records its figures as observations at its
    // `as_of`: audits of the same accounts at the same moment write the same
    // keys, concurrently, and the last one to commit wins.
    let app = spawn_app().await;
    let mut accounts = Vec::new();
    for i in 0..3 {
        accounts.push(
            app.create_account(Network::Pinterest, &format!("shared{i}"))
                .await
                .name,
        );
    }
    let as_of = crate::observations::ts(t("2026-04-06T12:00:00Z"));
    let mut audits = Vec::new();
    for audit in 0..6 {
        let entries = accounts
            .iter()
            .map(|account| pb::AuditEntry {
                account: account.clone(),
                metrics: [
                    ("followers".to_owned(), 1000.0 + audit as f64),
                    ("likes".to_owned(), 10.0 * audit as f64),
                ]
                .into(),
                ..Default::default()
            })
            .collect();
        let created = app
            .audits()
            .create_audit(pb::CreateAuditRequest {
                audit: Some(pb::Audit {
                    title: format!("Audit {audit}"),
                    as_of: Some(as_of),
                    entries,
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        audits.push(created.name);
    }
    let completions: Vec<_> = audits
        .into_iter()
        .map(|name| {
            let mut client = app.audits();
            tokio::spawn(async move {
                client
                    .complete_audit(pb::CompleteAuditRequest {
                        name,
                        etag: String::new(),
                    })
                    .await
            })
        })
        .collect();
    for completion in completions {
        completion.await.unwrap().expect("every audit completes");
    }
    let rows = list_all(&app, "").await;
    assert_eq!(rows.len(), 6, "one row per metric and account");
    assert!(rows.iter().all(|row| row.source.starts_with("audits/")));
    assert_rollups_match_observations(&app).await;
}
