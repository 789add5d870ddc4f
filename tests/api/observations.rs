//! MetricService observation methods through real gRPC calls: batch and
//! streamed writes (atomic, idempotent, kept in step with the daily rollups),
//! listing, exact aggregation by QueryMetric checked against values computed
//! here from the rows written, and the observations a completed audit records.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use goalpost::pb;
use goalpost::pb::Interval;
use goalpost::pb::account::Network;
use goalpost::pb::metric_definition::Aggregation;
use goalpost::pb::metric_service_client::MetricServiceClient;
use prost_types::Timestamp;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;
use uuid::Uuid;

use crate::helpers::{TestApp, assert_error, assert_violations, page_through, spawn_app};
use crate::metrics::{base_metric, create_metric, derived_metric, metric_client, term};
pub(crate) use expected::*;

mod aggregation;
mod bad_queries;
mod expected;
mod last_everywhere;
mod listing;
mod stream_rollups;
mod streams;
mod windows;
mod writes;

/// An account name that is well formed but names no account.
const MISSING_ACCOUNT: &str = "accounts/0190b6f4-5e6b-7c1d-9a2e-3f4a5b6c7d8e";

/// Exact comparison, for sums, LAST, MIN and MAX of exactly representable values.
const EXACT: f64 = 0.0;
/// Relative tolerance for ratios (AVG and derived metrics).
const RATIO: f64 = 1e-9;

/// A UTC time from RFC 3339 text.
pub(crate) fn t(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .with_timezone(&Utc)
}

pub(crate) fn ts(time: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    }
}

pub(crate) fn time_of(timestamp: &Timestamp) -> DateTime<Utc> {
    Utc.timestamp_opt(timestamp.seconds, timestamp.nanos as u32)
        .single()
        .expect("a valid timestamp")
}

pub(crate) fn observed(row: &pb::Observation) -> DateTime<Utc> {
    time_of(row.observed_at.as_ref().expect("observed_at"))
}

pub(crate) fn obs(
    metric_key: &str,
    account: &str,
    observed_at: DateTime<Utc>,
    value: f64,
) -> pb::Observation {
    pb::Observation {
        metric_key: metric_key.to_owned(),
        account: account.to_owned(),
        observed_at: Some(ts(observed_at)),
        value,
        ..Default::default()
    }
}

pub(crate) async fn write(
    app: &TestApp,
    observations: Vec<pb::Observation>,
) -> Result<i64, Status> {
    metric_client(app)
        .write_observations(pb::WriteObservationsRequest { observations })
        .await
        .map(|response| response.into_inner().observation_count)
}

/// Writes `rows` on `client` as a well-behaved concurrent writer does: a
/// write that conflicts with another is answered ABORTED (with retry info)
/// and stores nothing, so it is sent again, a little later each time.
pub(crate) async fn write_resending_aborted(
    mut client: MetricServiceClient<Channel>,
    rows: Vec<pb::Observation>,
) -> Result<pb::WriteObservationsResponse, Status> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let request = pb::WriteObservationsRequest {
            observations: rows.clone(),
        };
        match client.write_observations(request).await {
            Err(status) if status.code() == Code::Aborted && attempts < 20 => {
                tokio::time::sleep(Duration::from_millis(10 * attempts)).await;
            }
            result => return result.map(tonic::Response::into_inner),
        }
    }
}

/// Sends `chunks` as one StreamObservations call.
pub(crate) async fn stream(
    app: &TestApp,
    chunks: Vec<Vec<pb::Observation>>,
) -> Result<pb::StreamObservationsResponse, Status> {
    let requests = chunks
        .into_iter()
        .map(|observations| pb::StreamObservationsRequest { observations });
    metric_client(app)
        .stream_observations(tokio_stream::iter(requests))
        .await
        .map(|response| response.into_inner())
}

/// Every stored observation matching `filter`, read `page_size` at a time,
/// and how many pages that took.
pub(crate) async fn list_pages(
    app: &TestApp,
    filter: &str,
    page_size: i32,
) -> (Vec<pb::Observation>, usize) {
    let client = metric_client(app);
    page_through(page_size, |page_token| {
        let mut client = client.clone();
        async move {
            let page = client
                .list_observations(pb::ListObservationsRequest {
                    page_size,
                    page_token,
                    filter: filter.to_owned(),
                })
                .await
                .unwrap_or_else(|e| panic!("list with filter {filter:?}: {e:?}"))
                .into_inner();
            (page.observations, page.next_page_token)
        }
    })
    .await
}

pub(crate) async fn list_all(app: &TestApp, filter: &str) -> Vec<pb::Observation> {
    list_pages(app, filter, 1000).await.0
}

/// The identity and value of each row: (metric_key, account, observed_at, value).
pub(crate) fn keyed(rows: &[pb::Observation]) -> Vec<(String, String, DateTime<Utc>, f64)> {
    rows.iter()
        .map(|row| {
            (
                row.metric_key.clone(),
                row.account.clone(),
                observed(row),
                row.value,
            )
        })
        .collect()
}

/// `rows` in ListObservations order: metric_key, then account with the
/// organisation-wide series ("") first, then observed_at.
fn in_list_order(rows: &[pb::Observation]) -> Vec<(String, String, DateTime<Utc>, f64)> {
    let mut keyed = keyed(&effective(rows).into_iter().cloned().collect::<Vec<_>>());
    keyed.sort_by(|a, b| (&a.0, &a.1, a.2).cmp(&(&b.0, &b.1, b.2)));
    keyed
}

pub(crate) async fn query(
    app: &TestApp,
    metric_key: &str,
    accounts: &[&str],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    interval: Interval,
) -> Vec<pb::MetricBucket> {
    metric_client(app)
        .query_metric(pb::QueryMetricRequest {
            metric_key: metric_key.to_owned(),
            accounts: accounts.iter().map(|a| (*a).to_owned()).collect(),
            start: Some(ts(start)),
            end: Some(ts(end)),
            interval: interval as i32,
        })
        .await
        .unwrap_or_else(|e| panic!("query {metric_key} over {accounts:?}: {e:?}"))
        .into_inner()
        .buckets
}

/// Full snapshots of the observation and rollup tables, to show that a
/// failed write left them exactly as they were.
#[derive(Debug, PartialEq)]
pub(crate) struct Stored {
    observations: Option<String>,
    rollups: Option<String>,
}

pub(crate) async fn stored(app: &TestApp) -> Stored {
    let snapshot =
        |table: &str| format!("select string_agg(t::text, ',' order by t::text) from {table} t");
    Stored {
        observations: sqlx::query_scalar(&snapshot("observation"))
            .fetch_one(&app.pool)
            .await
            .expect("snapshot observations"),
        rollups: sqlx::query_scalar(&snapshot("observation_daily"))
            .fetch_one(&app.pool)
            .await
            .expect("snapshot rollups"),
    }
}

/// Sum, count, min, max, last value and its time of one series on one day.
type Rollup = (f64, i64, f64, f64, f64, DateTime<Utc>);

/// The account id in an account name; `None` for "" (the
/// organisation-wide series).
pub(crate) fn account_id(account: &str) -> Option<Uuid> {
    account
        .strip_prefix("accounts/")
        .map(|id| Uuid::parse_str(id).expect("an account name"))
}

/// The stored rollup of `metric` on `account` ("" = organisation-wide) for
/// UTC `day`.
async fn rollup(app: &TestApp, metric: &str, account: &str, day: NaiveDate) -> Option<Rollup> {
    sqlx::query_as(
        "select d.value_sum, d.value_count, d.value_min, d.value_max, d.last_value,
                d.last_observed_at
         from observation_daily d join series s on s.series_id = d.series_id
         where s.metric_key = $1 and s.account_id is not distinct from $2 and d.day = $3",
    )
    .bind(metric)
    .bind(account_id(account))
    .bind(day)
    .fetch_optional(&app.pool)
    .await
    .expect("read a rollup")
}

/// Asserts the buckets run between consecutive `bounds` and each carries
/// `expected(start, end)`: exactly when `tolerance` is 0, else within that
/// relative tolerance.
fn assert_buckets(
    what: &str,
    buckets: &[pb::MetricBucket],
    bounds: &[DateTime<Utc>],
    expected: impl Fn(DateTime<Utc>, DateTime<Utc>) -> Option<f64>,
    tolerance: f64,
) {
    let found: Vec<(DateTime<Utc>, DateTime<Utc>)> = buckets
        .iter()
        .map(|bucket| {
            (
                time_of(bucket.start.as_ref().expect("a bucket start")),
                time_of(bucket.end.as_ref().expect("a bucket end")),
            )
        })
        .collect();
    let wanted: Vec<(DateTime<Utc>, DateTime<Utc>)> =
        bounds.windows(2).map(|pair| (pair[0], pair[1])).collect();
    assert_eq!(found, wanted, "{what}: bucket bounds");
    for (bucket, (start, end)) in buckets.iter().zip(wanted) {
        let want = expected(start, end);
        let matches = match (bucket.value, want) {
            (None, None) => true,
            (Some(got), Some(want)) if tolerance == 0.0 => got == want,
            (Some(got), Some(want)) => (got - want).abs() <= tolerance * want.abs().max(1.0),
            _ => false,
        };
        assert!(
            matches,
            "{what}: bucket [{start}, {end}) holds {:?}, expected {want:?}",
            bucket.value
        );
    }
}

/// The values of `buckets`, for hand-written expectations.
fn values(buckets: &[pb::MetricBucket]) -> Vec<Option<f64>> {
    buckets.iter().map(|bucket| bucket.value).collect()
}

pub(crate) fn chunk_index(status: &Status) -> Option<String> {
    status
        .get_error_details()
        .error_info()
        .and_then(|info| info.metadata.get("chunk").cloned())
}
