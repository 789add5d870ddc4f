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
use prost_types::Timestamp;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Status};
use tonic_types::StatusExt;
use uuid::Uuid;

use crate::helpers::{TestApp, assert_error, assert_violations, page_through, spawn_app};
use crate::metrics::{base_metric, create_metric, derived_metric, metric_client, term};

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

fn time_of(timestamp: &Timestamp) -> DateTime<Utc> {
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

fn account_id(account: &str) -> Option<Uuid> {
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

/// The rollup `rollup` should find, computed from the rows written.
fn expected_rollup(
    rows: &[pb::Observation],
    metric: &str,
    account: &str,
    day: NaiveDate,
) -> Option<Rollup> {
    let selected: Vec<&pb::Observation> = effective(rows)
        .into_iter()
        .filter(|row| {
            row.metric_key == metric && row.account == account && observed(row).date_naive() == day
        })
        .collect();
    let last = selected.iter().max_by_key(|row| observed(row))?;
    let values = || selected.iter().map(|row| row.value);
    Some((
        values().sum(),
        selected.len() as i64,
        values().fold(f64::INFINITY, f64::min),
        values().fold(f64::NEG_INFINITY, f64::max),
        last.value,
        observed(last),
    ))
}

/// Asserts every rollup row equals the aggregate of the raw observations of
/// its series and day, and that no series-day lacks its rollup.
pub(crate) async fn assert_rollups_match_observations(app: &TestApp) {
    let mismatches: Vec<String> = sqlx::query_scalar(
        "with raw as (
             select series_id, (observed_at at time zone 'UTC')::date as day,
                    sum(value) as value_sum, count(*) as value_count,
                    min(value) as value_min, max(value) as value_max,
                    (array_agg(value order by observed_at desc))[1] as last_value,
                    max(observed_at) as last_observed_at
             from observation
             group by 1, 2
         )
         select format('series %s on %s: raw %s, rollup %s', series_id, day, r, d)
         from raw r full join observation_daily d using (series_id, day)
         where r.value_count is distinct from d.value_count
            or r.value_sum is distinct from d.value_sum
            or r.value_min is distinct from d.value_min
            or r.value_max is distinct from d.value_max
            or r.last_value is distinct from d.last_value
            or r.last_observed_at is distinct from d.last_observed_at",
    )
    .fetch_all(&app.pool)
    .await
    .expect("compare rollups with observations");
    assert!(
        mismatches.is_empty(),
        "rollups out of step: {mismatches:#?}"
    );
}

/// Waits until no client connection of the test database is inside a
/// transaction; false if that takes longer than `limit`.
pub(crate) async fn transactions_end_within(app: &TestApp, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let open: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity
             where datname = current_database() and backend_type = 'client backend'
               and pid <> pg_backend_pid() and xact_start is not null",
        )
        .fetch_one(&app.pool)
        .await
        .expect("read pg_stat_activity");
        if open == 0 {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The rows that count: for each (metric_key, account, observed_at) the one
/// written last.
pub(crate) fn effective(rows: &[pb::Observation]) -> Vec<&pb::Observation> {
    let mut latest: BTreeMap<(&str, &str, DateTime<Utc>), &pb::Observation> = BTreeMap::new();
    for row in rows {
        latest.insert((&row.metric_key, &row.account, observed(row)), row);
    }
    latest.into_values().collect()
}

/// DESIGN §1, computed independently: the value of base `metric` over
/// `[start, end)` and `accounts` (empty = all, "" = organisation-wide).
fn expected_base(
    rows: &[pb::Observation],
    metric: &str,
    aggregation: Aggregation,
    accounts: &[&str],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Option<f64> {
    let selected: Vec<&pb::Observation> = effective(rows)
        .into_iter()
        .filter(|row| {
            let at = observed(row);
            row.metric_key == metric
                && (accounts.is_empty() || accounts.contains(&row.account.as_str()))
                && start <= at
                && at < end
        })
        .collect();
    if selected.is_empty() {
        return None;
    }
    let values = || selected.iter().map(|row| row.value);
    Some(match aggregation {
        Aggregation::Sum => values().sum(),
        Aggregation::Avg => values().sum::<f64>() / selected.len() as f64,
        Aggregation::Min => values().fold(f64::INFINITY, f64::min),
        Aggregation::Max => values().fold(f64::NEG_INFINITY, f64::max),
        Aggregation::Last => {
            let mut latest: BTreeMap<&str, (DateTime<Utc>, f64)> = BTreeMap::new();
            for row in &selected {
                let at = observed(row);
                let entry = latest.entry(&row.account).or_insert((at, row.value));
                if at >= entry.0 {
                    *entry = (at, row.value);
                }
            }
            latest.values().map(|(_, value)| value).sum()
        }
        Aggregation::Unspecified => panic!("{metric} has no aggregation"),
    })
}

/// A derived metric's formula, each term with the aggregation of its metric.
struct Ratio {
    numerator: &'static [(&'static str, f64, Aggregation)],
    denominator: &'static [(&'static str, f64, Aggregation)],
    scale: f64,
}

const CLICK_THROUGH_RATE: Ratio = Ratio {
    numerator: &[("clicks", 1.0, Aggregation::Sum)],
    denominator: &[("impressions", 1.0, Aggregation::Sum)],
    scale: 100.0,
};

const ENGAGEMENT_RATE: Ratio = Ratio {
    numerator: &[
        ("likes", 1.0, Aggregation::Sum),
        ("comments", 1.0, Aggregation::Sum),
        ("shares", 1.0, Aggregation::Sum),
    ],
    denominator: &[("followers", 1.0, Aggregation::Last)],
    scale: 100.0,
};

const NET_PROMOTER_SCORE: Ratio = Ratio {
    numerator: &[
        ("promoters", 1.0, Aggregation::Sum),
        ("detractors", -1.0, Aggregation::Sum),
    ],
    denominator: &[("nps_responses", 1.0, Aggregation::Sum)],
    scale: 100.0,
};

const SHARE_OF_VOICE: Ratio = Ratio {
    numerator: &[("mentions", 1.0, Aggregation::Sum)],
    denominator: &[
        ("mentions", 1.0, Aggregation::Sum),
        ("competitor_mentions", 1.0, Aggregation::Sum),
    ],
    scale: 100.0,
};

/// DESIGN §1, computed independently: scale × Σ aggregated numerator terms /
/// Σ aggregated denominator terms; no data when a side has no observation of
/// any term or the denominator is 0.
fn expected_ratio(
    rows: &[pb::Observation],
    ratio: &Ratio,
    accounts: &[&str],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Option<f64> {
    let side = |terms: &[(&str, f64, Aggregation)]| -> Option<f64> {
        let values: Vec<Option<f64>> = terms
            .iter()
            .map(|(key, coefficient, aggregation)| {
                expected_base(rows, key, *aggregation, accounts, start, end)
                    .map(|value| coefficient * value)
            })
            .collect();
        if values.iter().all(Option::is_none) {
            None
        } else {
            Some(values.iter().flatten().sum())
        }
    };
    let numerator = side(ratio.numerator)?;
    let denominator = side(ratio.denominator)?;
    if denominator == 0.0 {
        None
    } else {
        Some(ratio.scale * numerator / denominator)
    }
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

#[tokio::test]
async fn written_observations_are_listed_with_their_source_and_recorded_at() {
    let app = spawn_app().await;
    let account = app.create_account(Network::Instagram, "acme").await.name;
    let before = Utc::now();
    let count = write(
        &app,
        vec![
            pb::Observation {
                source: "instagram-insights".into(),
                recorded_at: Some(ts(t("2000-01-01T00:00:00Z"))),
                ..obs("followers", &account, t("2026-03-02T09:00:00Z"), 1200.0)
            },
            obs("followers", "", t("2026-03-02T09:00:00.123456789Z"), 5000.0),
            pb::Observation {
                source: "instagram-insights".into(),
                ..obs("likes", &account, t("2026-03-02T10:00:00Z"), 42.5)
            },
        ],
    )
    .await
    .unwrap();
    let after = Utc::now();
    assert_eq!(count, 3);

    let listed = list_all(&app, "").await;
    let found: Vec<(&str, &str, DateTime<Utc>, f64, &str)> = listed
        .iter()
        .map(|row| {
            (
                row.metric_key.as_str(),
                row.account.as_str(),
                observed(row),
                row.value,
                row.source.as_str(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            (
                "followers",
                "",
                t("2026-03-02T09:00:00.123456Z"),
                5000.0,
                ""
            ),
            (
                "followers",
                account.as_str(),
                t("2026-03-02T09:00:00Z"),
                1200.0,
                "instagram-insights"
            ),
            (
                "likes",
                account.as_str(),
                t("2026-03-02T10:00:00Z"),
                42.5,
                "instagram-insights"
            ),
        ],
        "organisation-wide first, microsecond precision, sources kept"
    );
    for row in &listed {
        let recorded = time_of(row.recorded_at.as_ref().expect("recorded_at is set"));
        assert!(
            before - TimeDelta::seconds(5) <= recorded && recorded <= after + TimeDelta::seconds(5),
            "recorded_at {recorded} is the time of the write, not the client's value"
        );
    }
}

#[tokio::test]
async fn a_replayed_batch_or_stream_changes_nothing() {
    let app = spawn_app().await;
    let account = app.create_account(Network::Facebook, "acme").await.name;
    let batch = vec![
        obs("likes", &account, t("2026-03-02T09:00:00Z"), 10.0),
        obs("likes", &account, t("2026-03-02T11:00:00Z"), 20.0),
        obs("followers", &account, t("2026-03-02T12:00:00Z"), 300.0),
        pb::Observation {
            source: "crm".into(),
            ..obs("leads", "", t("2026-03-03T08:00:00Z"), 4.0)
        },
    ];
    write(&app, batch.clone()).await.unwrap();
    let first = stored(&app).await;
    let listed = list_all(&app, "").await;

    write(&app, batch.clone()).await.unwrap();
    assert_eq!(stored(&app).await, first, "a replayed batch");
    stream(&app, vec![batch[..2].to_vec(), batch[2..].to_vec()])
        .await
        .unwrap();
    assert_eq!(stored(&app).await, first, "the same rows streamed");
    assert_eq!(list_all(&app, "").await, listed);
    assert_eq!(app.count("observation").await, 4);
}

#[tokio::test]
async fn a_new_value_for_the_same_key_replaces_the_old_one_in_rollups_and_queries() {
    let app = spawn_app().await;
    let account = app.create_account(Network::X, "acme").await.name;
    let day = NaiveDate::from_ymd_opt(2026, 3, 3).unwrap();
    let mut rows = vec![
        obs("likes", &account, t("2026-03-03T09:00:00Z"), 10.0),
        obs("likes", &account, t("2026-03-03T12:00:00Z"), 20.0),
        obs("likes", &account, t("2026-03-03T15:00:00Z"), 30.0),
        obs("likes", &account, t("2026-03-04T08:00:00Z"), 5.0),
        obs("followers", &account, t("2026-03-03T09:00:00Z"), 100.0),
        obs("followers", &account, t("2026-03-03T18:00:00Z"), 200.0),
    ];
    write(&app, rows.clone()).await.unwrap();
    assert_eq!(
        rollup(&app, "likes", &account, day).await,
        Some((60.0, 3, 10.0, 30.0, 30.0, t("2026-03-03T15:00:00Z")))
    );

    let replacements = vec![
        pb::Observation {
            source: "correction".into(),
            ..obs("likes", &account, t("2026-03-03T12:00:00Z"), 100.0)
        },
        obs("likes", &account, t("2026-03-03T15:00:00Z"), 1.0),
        obs("followers", &account, t("2026-03-03T18:00:00Z"), 150.0),
    ];
    assert_eq!(
        write(&app, replacements.clone()).await.unwrap(),
        3,
        "replacements count as stored"
    );
    rows.extend(replacements);

    assert_eq!(
        rollup(&app, "likes", &account, day).await,
        Some((111.0, 3, 1.0, 100.0, 1.0, t("2026-03-03T15:00:00Z"))),
        "the replaced values moved sum, min, max and last"
    );
    assert_eq!(
        rollup(&app, "likes", &account, day).await,
        expected_rollup(&rows, "likes", &account, day)
    );
    assert_eq!(
        rollup(&app, "followers", &account, day).await,
        Some((250.0, 2, 100.0, 150.0, 150.0, t("2026-03-03T18:00:00Z")))
    );
    assert_rollups_match_observations(&app).await;

    let listed = list_all(&app, r#"metric_key = "likes""#).await;
    assert_eq!(listed.len(), 4, "a replacement adds no row");
    let corrected = &listed[1];
    assert_eq!(
        (corrected.value, corrected.source.as_str()),
        (100.0, "correction")
    );

    // Whole days (rollups) and partial days (raw rows) both see the new values.
    let whole_days = query(
        &app,
        "likes",
        &[],
        t("2026-03-03T00:00:00Z"),
        t("2026-03-05T00:00:00Z"),
        Interval::Day,
    )
    .await;
    assert_eq!(values(&whole_days), [Some(111.0), Some(5.0)]);
    let mid_day = query(
        &app,
        "likes",
        &[],
        t("2026-03-03T11:00:00Z"),
        t("2026-03-04T12:00:00Z"),
        Interval::Unspecified,
    )
    .await;
    assert_eq!(values(&mid_day), [Some(106.0)]);
    let followers = query(
        &app,
        "followers",
        &[],
        t("2026-03-03T00:00:00Z"),
        t("2026-03-04T00:00:00Z"),
        Interval::Day,
    )
    .await;
    assert_eq!(values(&followers), [Some(150.0)]);
}

#[tokio::test]
async fn within_one_batch_or_stream_the_later_row_wins() {
    let app = spawn_app().await;
    let account = app.create_account(Network::Tiktok, "acme").await.name;
    let first_key = t("2026-03-02T09:00:00Z");
    write(
        &app,
        vec![
            obs("likes", &account, first_key, 5.0),
            obs("likes", &account, first_key, 7.0),
        ],
    )
    .await
    .unwrap();

    let second_key = t("2026-03-02T10:00:00Z");
    let response = stream(
        &app,
        vec![
            vec![obs("likes", &account, second_key, 1.0)],
            vec![
                obs("likes", &account, second_key, 2.0),
                obs("likes", &account, second_key, 3.0),
            ],
        ],
    )
    .await
    .unwrap();
    assert_eq!(response.chunk_count, 2);

    let listed = list_all(&app, "").await;
    assert_eq!(
        keyed(&listed),
        [
            ("likes".to_owned(), account.clone(), first_key, 7.0),
            ("likes".to_owned(), account.clone(), second_key, 3.0),
        ]
    );
    assert_eq!(
        rollup(&app, "likes", &account, first_key.date_naive()).await,
        Some((10.0, 2, 3.0, 7.0, 3.0, second_key))
    );
    let total = query(
        &app,
        "likes",
        &[],
        t("2026-03-02T00:00:00Z"),
        t("2026-03-03T00:00:00Z"),
        Interval::Unspecified,
    )
    .await;
    assert_eq!(values(&total), [Some(10.0)]);
}

#[tokio::test]
async fn values_at_the_edges_of_the_limits_are_accepted() {
    let app = spawn_app().await;
    let account = app.create_account(Network::Youtube, "acme").await.name;
    let in_23_hours =
        DateTime::from_timestamp((Utc::now() + TimeDelta::hours(23)).timestamp(), 0).unwrap();
    let edges = vec![
        pb::Observation {
            source: "s".repeat(200),
            ..obs("likes", &account, t("1970-01-01T00:00:00Z"), 0.0)
        },
        obs("likes", "", in_23_hours, -2.5),
        obs("impressions", &account, t("2026-03-02T00:00:00Z"), 1e15),
    ];
    assert_eq!(write(&app, edges.clone()).await.unwrap(), 3);
    assert_eq!(
        in_list_order(&list_all(&app, "").await),
        in_list_order(&edges)
    );

    // Exactly 10,000 rows fit in one request.
    let start = t("2026-01-01T00:00:00Z");
    let full: Vec<pb::Observation> = (0..10_000)
        .map(|i| {
            obs(
                "impressions",
                "",
                start + TimeDelta::minutes(i),
                (i % 7) as f64,
            )
        })
        .collect();
    assert_eq!(write(&app, full.clone()).await.unwrap(), 10_000);
    assert_eq!(app.count("observation").await, 10_003);
    let end = start + TimeDelta::minutes(10_000);
    let total = query(
        &app,
        "impressions",
        &[""],
        start,
        end,
        Interval::Unspecified,
    )
    .await;
    assert_eq!(
        values(&total),
        [expected_base(
            &full,
            "impressions",
            Aggregation::Sum,
            &[],
            start,
            end
        )]
    );
    assert_rollups_match_observations(&app).await;
}

#[tokio::test]
async fn bad_observations_are_rejected_with_every_violation_and_nothing_stored() {
    let app = spawn_app().await;
    let account = app.create_account(Network::Facebook, "acme").await.name;
    let nine = t("2026-03-02T09:00:00Z");
    let ten = t("2026-03-02T10:00:00Z");
    write(
        &app,
        vec![
            obs("likes", &account, nine, 10.0),
            obs("followers", "", nine, 500.0),
        ],
    )
    .await
    .unwrap();
    let before = stored(&app).await;

    // Every bad batch starts with good rows, one of which would replace a
    // stored value, so a partial write would show.
    let good = || {
        vec![
            obs("likes", &account, nine, 99.0),
            obs("likes", &account, ten, 1.0),
        ]
    };
    let with = |bad: Vec<pb::Observation>| {
        let mut rows = good();
        rows.extend(bad);
        rows
    };
    let future = Utc::now() + TimeDelta::days(2);
    let cases: Vec<(&str, Vec<pb::Observation>, Vec<&str>)> = vec![
        (
            "empty metric key",
            with(vec![obs("", &account, ten, 1.0)]),
            vec!["observations[2].metric_key"],
        ),
        (
            "unknown metric",
            with(vec![obs("vibes", &account, ten, 1.0)]),
            vec!["observations[2].metric_key"],
        ),
        (
            "derived metric written directly",
            with(vec![obs("engagement_rate", &account, ten, 1.0)]),
            vec!["observations[2].metric_key"],
        ),
        (
            "malformed account",
            with(vec![obs("likes", "accounts/not-a-uuid", ten, 1.0)]),
            vec!["observations[2].account"],
        ),
        (
            "name of another kind of resource",
            with(vec![obs(
                "likes",
                "audits/0190b6f4-5e6b-7c1d-9a2e-3f4a5b6c7d8e",
                ten,
                1.0,
            )]),
            vec!["observations[2].account"],
        ),
        (
            "no such account",
            with(vec![obs("likes", MISSING_ACCOUNT, ten, 1.0)]),
            vec!["observations[2].account"],
        ),
        (
            "missing observed_at",
            with(vec![pb::Observation {
                observed_at: None,
                ..obs("likes", &account, ten, 1.0)
            }]),
            vec!["observations[2].observed_at"],
        ),
        (
            "before 1970",
            with(vec![obs("likes", &account, t("1969-12-31T23:59:59Z"), 1.0)]),
            vec!["observations[2].observed_at"],
        ),
        (
            "more than a day in the future",
            with(vec![obs("likes", &account, future, 1.0)]),
            vec!["observations[2].observed_at"],
        ),
        (
            "not a number and infinities",
            with(vec![
                obs("likes", &account, t("2026-03-02T11:00:00Z"), f64::NAN),
                obs("likes", &account, t("2026-03-02T12:00:00Z"), f64::INFINITY),
                obs(
                    "likes",
                    &account,
                    t("2026-03-02T13:00:00Z"),
                    f64::NEG_INFINITY,
                ),
            ]),
            vec![
                "observations[2].value",
                "observations[3].value",
                "observations[4].value",
            ],
        ),
        (
            "over-long source",
            with(vec![pb::Observation {
                source: "s".repeat(201),
                ..obs("likes", &account, ten, 1.0)
            }]),
            vec!["observations[2].source"],
        ),
        (
            "several bad rows between good ones",
            vec![
                obs("likes", &account, nine, 99.0),
                obs("vibes", &account, ten, f64::NAN),
                obs("likes", &account, ten, 1.0),
                pb::Observation {
                    observed_at: None,
                    ..obs("likes", MISSING_ACCOUNT, ten, 1.0)
                },
            ],
            vec![
                "observations[1].metric_key",
                "observations[1].value",
                "observations[3].account",
                "observations[3].observed_at",
            ],
        ),
        ("empty batch", vec![], vec!["observations"]),
        (
            "10,001 rows",
            (0..10_001)
                .map(|i| obs("impressions", "", nine + TimeDelta::seconds(i), 1.0))
                .collect(),
            vec!["observations"],
        ),
    ];
    for (description, bad, fields) in cases {
        let error = write(&app, bad).await.expect_err(description);
        assert_violations(&error, &fields);
        assert_eq!(
            stored(&app).await,
            before,
            "{description} changed the stored data"
        );
    }

    // A request over 16 MiB is refused before it is read, with the same
    // answer a stream chunk over the limit gets.
    let error = write(
        &app,
        vec![pb::Observation {
            source: "s".repeat(17 << 20),
            ..obs("likes", &account, ten, 1.0)
        }],
    )
    .await
    .unwrap_err();
    assert_error(&error, Code::ResourceExhausted, "MESSAGE_TOO_LARGE");
    assert!(error.message().contains("16 MiB"), "{}", error.message());
    assert_eq!(stored(&app).await, before);
}

#[tokio::test]
async fn a_stream_is_stored_as_one_transaction_and_reports_its_counts() {
    let app = spawn_app().await;
    let a = app.create_account(Network::Linkedin, "a").await.name;
    let b = app.create_account(Network::Linkedin, "b").await.name;
    let chunks = vec![
        vec![
            obs("clicks", &a, t("2026-03-02T09:00:00Z"), 3.0),
            obs("clicks", &b, t("2026-03-02T09:30:00Z"), 4.0),
            obs("followers", "", t("2026-03-02T10:00:00Z"), 900.0),
        ],
        vec![],
        vec![
            obs("clicks", &a, t("2026-03-03T09:00:00Z"), 5.5),
            pb::Observation {
                source: "linkedin-api".into(),
                ..obs("followers", &b, t("2026-03-03T10:00:00Z"), 120.0)
            },
        ],
    ];
    let response = stream(&app, chunks.clone()).await.unwrap();
    assert_eq!(response.observation_count, 5);
    assert_eq!(response.chunk_count, 3, "empty chunks are counted");
    let rows: Vec<pb::Observation> = chunks.into_iter().flatten().collect();
    let listed = list_all(&app, "").await;
    assert_eq!(keyed(&listed), in_list_order(&rows));
    let sourced = listed
        .iter()
        .find(|row| row.metric_key == "followers" && row.account == b)
        .unwrap();
    assert_eq!(sourced.source, "linkedin-api");
    assert_rollups_match_observations(&app).await;

    // A bulk load of several full chunks.
    let start = t("2026-02-01T00:00:00Z");
    let bulk: Vec<pb::Observation> = (0..30_000)
        .map(|i| {
            let account = [a.as_str(), b.as_str(), ""][i as usize % 3];
            obs(
                "impressions",
                account,
                start + TimeDelta::minutes(i),
                (i % 11) as f64,
            )
        })
        .collect();
    let response = stream(&app, bulk.chunks(10_000).map(<[_]>::to_vec).collect())
        .await
        .unwrap();
    assert_eq!(response.observation_count, 30_000);
    assert_eq!(response.chunk_count, 3);
    assert_eq!(app.count("observation").await, 30_005);
    assert_rollups_match_observations(&app).await;
    let end = start + TimeDelta::minutes(30_000);
    let bounds: Vec<DateTime<Utc>> = (0..=21).map(|day| start + TimeDelta::days(day)).collect();
    let daily = query(&app, "impressions", &[], start, bounds[21], Interval::Day).await;
    assert_buckets(
        "bulk impressions by day",
        &daily,
        &bounds,
        |from, to| expected_base(&bulk, "impressions", Aggregation::Sum, &[], from, to),
        EXACT,
    );
    let total = query(
        &app,
        "impressions",
        &[b.as_str()],
        start,
        end,
        Interval::Unspecified,
    )
    .await;
    assert_eq!(
        values(&total),
        [expected_base(
            &bulk,
            "impressions",
            Aggregation::Sum,
            &[b.as_str()],
            start,
            end
        )]
    );
}

#[tokio::test]
async fn a_stream_with_a_bad_chunk_stores_none_of_its_chunks() {
    let app = spawn_app().await;
    let account = app.create_account(Network::Snapchat, "acme").await.name;
    let nine = t("2026-03-02T09:00:00Z");
    write(&app, vec![obs("likes", &account, nine, 10.0)])
        .await
        .unwrap();
    let before = stored(&app).await;

    let good = |minute: i64| obs("likes", &account, nine + TimeDelta::minutes(minute), 1.0);
    type Chunks = Vec<Vec<pb::Observation>>;
    let cases: Vec<(&str, Chunks, Vec<&str>, &str)> = vec![
        (
            "a bad value in the third chunk",
            vec![
                vec![obs("likes", &account, nine, 99.0), good(1)],
                vec![good(2), good(3)],
                vec![
                    good(4),
                    pb::Observation {
                        value: f64::NAN,
                        ..good(5)
                    },
                ],
            ],
            vec!["observations[1].value"],
            "2",
        ),
        (
            "an unknown account in the first chunk",
            vec![
                vec![good(1), obs("likes", MISSING_ACCOUNT, nine, 1.0)],
                vec![good(2)],
            ],
            vec!["observations[1].account"],
            "0",
        ),
        (
            "a derived metric after an empty chunk",
            vec![
                vec![obs("likes", &account, nine, 99.0)],
                vec![],
                vec![obs("bounce_rate", &account, nine, 1.0)],
            ],
            vec!["observations[0].metric_key"],
            "2",
        ),
        (
            "a second chunk over the limit",
            vec![
                vec![obs("likes", &account, nine, 99.0)],
                (0..10_001).map(good).collect(),
            ],
            vec!["observations"],
            "1",
        ),
    ];
    for (description, chunks, fields, chunk) in cases {
        let error = stream(&app, chunks).await.expect_err(description);
        assert_violations(&error, &fields);
        assert_eq!(
            chunk_index(&error).as_deref(),
            Some(chunk),
            "{description}: the chunk index"
        );
        assert_eq!(
            stored(&app).await,
            before,
            "{description} changed the stored data"
        );
    }
}

#[tokio::test]
async fn a_stream_without_any_observation_is_rejected() {
    let app = spawn_app().await;
    let error = stream(&app, vec![]).await.unwrap_err();
    assert_violations(&error, &["observations"]);
    let error = stream(&app, vec![vec![], vec![]]).await.unwrap_err();
    assert_violations(&error, &["observations"]);
    assert_eq!(app.count("observation").await, 0);
}

#[tokio::test]
async fn a_stream_that_breaks_midway_stores_nothing() {
    let app = spawn_app().await;
    let account = app.create_account(Network::Pinterest, "acme").await.name;
    let nine = t("2026-03-02T09:00:00Z");
    let seeded = obs("likes", &account, nine, 10.0);
    write(&app, vec![seeded.clone()]).await.unwrap();
    let before = stored(&app).await;

    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    let mut client = metric_client(&app);
    let call = tokio::spawn(async move {
        client
            .stream_observations(ReceiverStream::new(receiver))
            .await
    });
    sender
        .send(pb::StreamObservationsRequest {
            observations: vec![
                pb::Observation {
                    value: 99.0,
                    ..seeded.clone()
                },
                obs("likes", &account, t("2026-03-02T10:00:00Z"), 1.0),
            ],
        })
        .await
        .unwrap();
    sender
        .send(pb::StreamObservationsRequest {
            observations: (0..1000)
                .map(|i| obs("impressions", "", nine + TimeDelta::seconds(i), 2.0))
                .collect(),
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Drop the call while the sender is still alive, so the server sees the
    // stream reset, never a clean end of stream.
    call.abort();
    match call.await {
        Err(error) if error.is_cancelled() => {}
        other => panic!("the call ended before it was cancelled: {other:?}"),
    }
    assert!(
        transactions_end_within(&app, Duration::from_secs(5)).await,
        "the broken stream's transaction is still open 5 s after the client left"
    );
    assert_eq!(
        stored(&app).await,
        before,
        "nothing of the broken stream is stored"
    );

    // It left no locks behind: a write to the same key goes through at once.
    let replaced = tokio::time::timeout(
        Duration::from_secs(10),
        write(
            &app,
            vec![pb::Observation {
                value: 11.0,
                ..seeded
            }],
        ),
    )
    .await
    .expect("a write to a key of the broken stream is not blocked");
    assert_eq!(replaced.unwrap(), 1);
    drop(sender);
}

#[tokio::test]
async fn concurrent_writes_to_the_same_series_keep_rollups_exact() {
    let app = spawn_app().await;
    let a = app.create_account(Network::Reddit, "a").await.name;
    let b = app.create_account(Network::Reddit, "b").await.name;
    let day = t("2026-03-05T00:00:00Z");
    let shared: Vec<(String, DateTime<Utc>)> = [a.as_str(), b.as_str(), ""]
        .iter()
        .flat_map(|account| {
            (0..20).map(move |i| ((*account).to_owned(), day + TimeDelta::minutes(30 * i)))
        })
        .collect();
    let writers = 6;
    let calls: Vec<_> = (0..writers)
        .map(|writer| {
            // Every writer writes the shared keys, each in another order,
            // and ten keys of its own.
            let mut rows: Vec<pb::Observation> = shared
                .iter()
                .enumerate()
                .map(|(k, (account, at))| obs("likes", account, *at, (writer * 100 + k) as f64))
                .collect();
            rows.rotate_left(writer * 7);
            if writer % 2 == 1 {
                rows.reverse();
            }
            rows.extend((0..10).map(|i| {
                obs(
                    "likes",
                    &a,
                    day + TimeDelta::hours(12) + TimeDelta::seconds((writer * 10 + i) as i64),
                    0.5,
                )
            }));
            let mut client = metric_client(&app);
            tokio::spawn(async move {
                // A conflict may be answered with ABORTED and a RetryInfo;
                // a well-behaved client retries the whole batch.
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
                        result => return result,
                    }
                }
            })
        })
        .collect();
    for call in calls {
        call.await
            .unwrap()
            .expect("every concurrent write succeeds");
    }

    assert_eq!(app.count("observation").await, 60 + 60);
    let listed = list_all(&app, "").await;
    for row in &listed {
        if row.value != 0.5 {
            let k = shared
                .iter()
                .position(|(account, at)| *account == row.account && *at == observed(row))
                .expect("a shared key");
            assert_eq!(
                (row.value as usize) % 100,
                k,
                "each key holds one writer's value"
            );
        }
    }
    assert_rollups_match_observations(&app).await;
    let total = query(
        &app,
        "likes",
        &[],
        day,
        day + TimeDelta::days(1),
        Interval::Day,
    )
    .await;
    assert_eq!(
        values(&total),
        [Some(listed.iter().map(|row| row.value).sum())]
    );
}

#[tokio::test]
async fn observations_list_by_metric_then_account_then_time_in_pages_covering_each_once() {
    let app = spawn_app().await;
    let a = app.create_account(Network::Threads, "a").await.name;
    let b = app.create_account(Network::Threads, "b").await.name;
    let mut rows = Vec::new();
    for metric in ["likes", "followers"] {
        for account in [b.as_str(), "", a.as_str()] {
            for hour in [16, 8, 12] {
                let at = t("2026-03-02T00:00:00Z") + TimeDelta::hours(hour);
                rows.push(obs(metric, account, at, hour as f64));
            }
        }
    }
    write(&app, rows.clone()).await.unwrap();
    let expected = in_list_order(&rows);

    let (paged, pages) = list_pages(&app, "", 4).await;
    assert_eq!(pages, 5, "18 rows in pages of 4");
    assert_eq!(keyed(&paged), expected);
    let (default_paged, pages) = list_pages(&app, "", 0).await;
    assert_eq!((keyed(&default_paged), pages), (expected.clone(), 1));

    // Rows written while paging never shift a page: one sorting before the
    // first page's end is not seen, one sorting after it is.
    let mut client = metric_client(&app);
    let first = client
        .list_observations(pb::ListObservationsRequest {
            page_size: 4,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(keyed(&first.observations), expected[..4]);
    let before_cursor = obs("comments", &a, t("2026-03-02T09:00:00Z"), 1.0);
    let after_cursor = obs("likes", &b, t("2026-03-02T20:00:00Z"), 20.0);
    write(&app, vec![before_cursor, after_cursor.clone()])
        .await
        .unwrap();
    let mut rest = Vec::new();
    let mut page_token = first.next_page_token;
    while !page_token.is_empty() {
        let page = client
            .list_observations(pb::ListObservationsRequest {
                page_size: 4,
                page_token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        rest.extend(page.observations);
        page_token = page.next_page_token;
    }
    rows.push(after_cursor);
    assert_eq!(keyed(&rest), in_list_order(&rows)[4..]);
}

#[tokio::test]
async fn list_filters_select_by_metric_account_and_time() {
    let app = spawn_app().await;
    let a = app.create_account(Network::Other, "a").await.name;
    let b = app.create_account(Network::Other, "b").await.name;
    let mut rows = Vec::new();
    for metric in ["likes", "followers"] {
        for account in ["", a.as_str(), b.as_str()] {
            for at in [
                "2026-03-02T08:00:00Z",
                "2026-03-02T12:00:00Z",
                "2026-03-02T16:00:00Z",
            ] {
                rows.push(obs(metric, account, t(at), 1.0));
            }
        }
    }
    write(&app, rows.clone()).await.unwrap();

    let noon = t("2026-03-02T12:00:00Z");
    type Predicate<'a> = Box<dyn Fn(&pb::Observation) -> bool + 'a>;
    let cases: Vec<(String, Predicate<'_>)> = vec![
        (
            r#"metric_key = "likes""#.into(),
            Box::new(|row: &pb::Observation| row.metric_key == "likes"),
        ),
        (
            r#"metric_key != "likes""#.into(),
            Box::new(|row: &pb::Observation| row.metric_key != "likes"),
        ),
        (
            format!(r#"account = "{a}""#),
            Box::new(|row: &pb::Observation| row.account == a),
        ),
        (
            r#"account = """#.into(),
            Box::new(|row: &pb::Observation| row.account.is_empty()),
        ),
        (
            r#"account != """#.into(),
            Box::new(|row: &pb::Observation| !row.account.is_empty()),
        ),
        (
            r#"observed_at >= "2026-03-02T12:00:00Z""#.into(),
            Box::new(|row: &pb::Observation| observed(row) >= noon),
        ),
        (
            r#"observed_at > "2026-03-02T12:00:00Z""#.into(),
            Box::new(|row: &pb::Observation| observed(row) > noon),
        ),
        (
            r#"observed_at < "2026-03-02T12:00:00Z""#.into(),
            Box::new(|row: &pb::Observation| observed(row) < noon),
        ),
        (
            r#"observed_at <= "2026-03-02T12:00:00Z""#.into(),
            Box::new(|row: &pb::Observation| observed(row) <= noon),
        ),
        (
            r#"observed_at = "2026-03-02T13:00:00+01:00""#.into(),
            Box::new(|row: &pb::Observation| observed(row) == noon),
        ),
        (
            r#"observed_at != "2026-03-02T12:00:00Z""#.into(),
            Box::new(|row: &pb::Observation| observed(row) != noon),
        ),
        (
            format!(
                r#"metric_key = "followers" AND account != "{b}" AND observed_at < "2026-03-02T16:00:00Z""#
            ),
            Box::new(|row: &pb::Observation| {
                row.metric_key == "followers"
                    && row.account != b
                    && observed(row) < t("2026-03-02T16:00:00Z")
            }),
        ),
        (
            r#"metric_key = "nope""#.into(),
            Box::new(|_: &pb::Observation| false),
        ),
    ];
    for (filter, predicate) in cases {
        let matching: Vec<pb::Observation> =
            rows.iter().filter(|row| predicate(row)).cloned().collect();
        let (listed, _) = list_pages(&app, &filter, 5).await;
        assert_eq!(keyed(&listed), in_list_order(&matching), "{filter}");
    }
}

#[tokio::test]
async fn bad_list_requests_are_invalid_arguments() {
    let app = spawn_app().await;
    let mut client = metric_client(&app);
    let request = |filter: &str| pb::ListObservationsRequest {
        filter: filter.into(),
        ..Default::default()
    };
    let cases = [
        (
            "negative page size",
            pb::ListObservationsRequest {
                page_size: -1,
                ..Default::default()
            },
            "page_size",
        ),
        ("unknown field", request(r#"source = "crm""#), "filter"),
        (
            "or",
            request(r#"metric_key = "a" OR metric_key = "b""#),
            "filter",
        ),
        (
            "ordering on a metric key",
            request(r#"metric_key < "m""#),
            "filter",
        ),
        (
            "not a time",
            request(r#"observed_at > "yesterday""#),
            "filter",
        ),
        (
            "garbage token",
            pb::ListObservationsRequest {
                page_token: "garbage".into(),
                ..Default::default()
            },
            "page_token",
        ),
    ];
    for (description, request, field) in cases {
        let error = client
            .list_observations(request)
            .await
            .expect_err(description);
        assert_violations(&error, &[field]);
        if description == "unknown field" || description == "or" {
            assert!(
                error.message().contains("supported"),
                "{description}: {}",
                error.message()
            );
        }
    }

    // A token only continues the listing it came from.
    let rows = (0..3)
        .map(|i| {
            obs(
                "likes",
                "",
                t("2026-03-02T00:00:00Z") + TimeDelta::hours(i),
                1.0,
            )
        })
        .collect();
    write(&app, rows).await.unwrap();
    let page = client
        .list_observations(pb::ListObservationsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let error = client
        .list_observations(pb::ListObservationsRequest {
            page_size: 1,
            page_token: page.next_page_token,
            filter: r#"metric_key = "likes""#.into(),
        })
        .await
        .unwrap_err();
    assert_violations(&error, &["page_token"]);
}

#[tokio::test]
async fn sum_adds_every_observation_across_the_selected_accounts() {
    let app = spawn_app().await;
    let a = app.create_account(Network::Instagram, "a").await.name;
    let b = app.create_account(Network::Instagram, "b").await.name;
    let rows = vec![
        obs("impressions", &a, t("2026-03-02T08:00:00Z"), 100.0),
        obs("impressions", &a, t("2026-03-02T20:00:00Z"), 50.0),
        obs("impressions", &b, t("2026-03-02T12:00:00Z"), 30.0),
        obs("impressions", "", t("2026-03-02T23:59:59.999999Z"), 7.0),
        obs("impressions", &a, t("2026-03-03T00:00:00Z"), 1.0),
        obs("impressions", &b, t("2026-03-03T13:00:00Z"), 2.5),
        obs("impressions", "", t("2026-03-04T06:00:00Z"), 0.25),
        // Outside the range on both sides.
        obs("impressions", &a, t("2026-03-01T23:59:59Z"), 1000.0),
        obs("impressions", &b, t("2026-03-05T00:00:00Z"), 1000.0),
        // Another metric.
        obs("reach", &a, t("2026-03-02T08:00:00Z"), 1000.0),
    ];
    write(&app, rows.clone()).await.unwrap();
    let bounds = [
        t("2026-03-02T00:00:00Z"),
        t("2026-03-03T00:00:00Z"),
        t("2026-03-04T00:00:00Z"),
        t("2026-03-05T00:00:00Z"),
    ];

    let every = query(
        &app,
        "impressions",
        &[],
        bounds[0],
        bounds[3],
        Interval::Day,
    )
    .await;
    assert_eq!(values(&every), [Some(187.0), Some(3.5), Some(0.25)]);
    let only_a = query(
        &app,
        "impressions",
        &[a.as_str()],
        bounds[0],
        bounds[3],
        Interval::Day,
    )
    .await;
    assert_eq!(values(&only_a), [Some(150.0), Some(1.0), None]);

    let selections: [(&str, Vec<&str>, Vec<&str>); 6] = [
        ("every account and the organisation", vec![], vec![]),
        ("one account", vec![a.as_str()], vec![a.as_str()]),
        ("the organisation-wide series", vec![""], vec![""]),
        (
            "an account and the organisation",
            vec![b.as_str(), ""],
            vec![b.as_str(), ""],
        ),
        (
            "duplicates are ignored",
            vec![a.as_str(), b.as_str(), a.as_str()],
            vec![a.as_str(), b.as_str()],
        ),
        (
            "both accounts",
            vec![a.as_str(), b.as_str()],
            vec![a.as_str(), b.as_str()],
        ),
    ];
    for (description, accounts, counted) in selections {
        let daily = query(
            &app,
            "impressions",
            &accounts,
            bounds[0],
            bounds[3],
            Interval::Day,
        )
        .await;
        assert_buckets(
            description,
            &daily,
            &bounds,
            |start, end| {
                expected_base(&rows, "impressions", Aggregation::Sum, &counted, start, end)
            },
            EXACT,
        );
        let whole = query(
            &app,
            "impressions",
            &accounts,
            bounds[0],
            bounds[3],
            Interval::Unspecified,
        )
        .await;
        assert_buckets(
            description,
            &whole,
            &[bounds[0], bounds[3]],
            |start, end| {
                expected_base(&rows, "impressions", Aggregation::Sum, &counted, start, end)
            },
            EXACT,
        );
    }
}

#[tokio::test]
async fn last_adds_each_accounts_latest_observation_in_the_bucket() {
    let app = spawn_app().await;
    let a = app.create_account(Network::X, "a").await.name;
    let b = app.create_account(Network::X, "b").await.name;
    let rows = vec![
        obs("followers", &a, t("2026-03-02T08:00:00Z"), 100.0),
        obs("followers", &a, t("2026-03-02T20:00:00Z"), 110.0),
        // The latest, not the largest.
        obs("followers", &a, t("2026-03-03T09:00:00Z"), 90.0),
        obs("followers", &b, t("2026-03-02T12:00:00Z"), 50.0),
        obs("followers", "", t("2026-03-03T10:00:00Z"), 7.0),
        obs("followers", "", t("2026-03-03T08:00:00Z"), 9.0),
    ];
    write(&app, rows.clone()).await.unwrap();
    let bounds = [
        t("2026-03-02T00:00:00Z"),
        t("2026-03-03T00:00:00Z"),
        t("2026-03-04T00:00:00Z"),
        t("2026-03-05T00:00:00Z"),
    ];
    let daily = query(&app, "followers", &[], bounds[0], bounds[3], Interval::Day).await;
    assert_eq!(
        values(&daily),
        [Some(160.0), Some(97.0), None],
        "b has no observation on the 3rd and adds nothing there"
    );
    let whole = query(
        &app,
        "followers",
        &[],
        bounds[0],
        bounds[3],
        Interval::Unspecified,
    )
    .await;
    assert_eq!(values(&whole), [Some(90.0 + 50.0 + 7.0)]);

    for accounts in [vec![], vec![a.as_str()], vec![b.as_str(), ""], vec![""]] {
        let daily = query(
            &app,
            "followers",
            &accounts,
            bounds[0],
            bounds[3],
            Interval::Day,
        )
        .await;
        assert_buckets(
            &format!("followers of {accounts:?}"),
            &daily,
            &bounds,
            |start, end| {
                expected_base(&rows, "followers", Aggregation::Last, &accounts, start, end)
            },
            EXACT,
        );
        let hourly = query(
            &app,
            "followers",
            &accounts,
            t("2026-03-03T07:30:00Z"),
            t("2026-03-03T10:30:00Z"),
            Interval::Hour,
        )
        .await;
        assert_buckets(
            &format!("hourly followers of {accounts:?}"),
            &hourly,
            &[
                t("2026-03-03T07:30:00Z"),
                t("2026-03-03T08:00:00Z"),
                t("2026-03-03T09:00:00Z"),
                t("2026-03-03T10:00:00Z"),
                t("2026-03-03T10:30:00Z"),
            ],
            |start, end| {
                expected_base(&rows, "followers", Aggregation::Last, &accounts, start, end)
            },
            EXACT,
        );
    }
}

#[tokio::test]
async fn avg_min_and_max_act_over_all_observations() {
    let app = spawn_app().await;
    let a = app.create_account(Network::Facebook, "a").await.name;
    let b = app.create_account(Network::Facebook, "b").await.name;
    let metrics = [
        ("response_minutes_avg", Aggregation::Avg),
        ("response_minutes_min", Aggregation::Min),
        ("response_minutes_max", Aggregation::Max),
    ];
    let mut rows = Vec::new();
    for (key, aggregation) in metrics {
        create_metric(&app, base_metric(key, aggregation)).await;
        rows.extend([
            obs(key, &a, t("2026-03-02T08:00:00Z"), 1.0),
            obs(key, &a, t("2026-03-02T10:00:00Z"), 2.0),
            obs(key, &a, t("2026-03-02T12:00:00Z"), 3.0),
            obs(key, &b, t("2026-03-02T15:00:00Z"), 10.0),
            obs(key, &a, t("2026-03-03T09:00:00Z"), -4.0),
            obs(key, "", t("2026-03-03T11:00:00Z"), 0.5),
        ]);
    }
    write(&app, rows.clone()).await.unwrap();
    let bounds = [
        t("2026-03-02T00:00:00Z"),
        t("2026-03-03T00:00:00Z"),
        t("2026-03-04T00:00:00Z"),
        t("2026-03-05T00:00:00Z"),
    ];

    let avg = query(
        &app,
        "response_minutes_avg",
        &[],
        bounds[0],
        bounds[3],
        Interval::Day,
    )
    .await;
    assert_eq!(
        values(&avg),
        [Some(4.0), Some(-1.75), None],
        "the mean of all observations (16 / 4), not of per-account means (6)"
    );
    let min = query(
        &app,
        "response_minutes_min",
        &[],
        bounds[0],
        bounds[3],
        Interval::Day,
    )
    .await;
    assert_eq!(values(&min), [Some(1.0), Some(-4.0), None]);
    let max = query(
        &app,
        "response_minutes_max",
        &[],
        bounds[0],
        bounds[3],
        Interval::Day,
    )
    .await;
    assert_eq!(values(&max), [Some(10.0), Some(0.5), None]);

    for (key, aggregation) in metrics {
        let tolerance = if aggregation == Aggregation::Avg {
            RATIO
        } else {
            EXACT
        };
        for accounts in [vec![], vec![a.as_str()], vec![b.as_str(), ""]] {
            let whole = query(
                &app,
                key,
                &accounts,
                bounds[0],
                bounds[3],
                Interval::Unspecified,
            )
            .await;
            assert_buckets(
                &format!("{key} of {accounts:?}"),
                &whole,
                &[bounds[0], bounds[3]],
                |start, end| expected_base(&rows, key, aggregation, &accounts, start, end),
                tolerance,
            );
            let mid_day = query(
                &app,
                key,
                &accounts,
                t("2026-03-02T09:00:00Z"),
                t("2026-03-03T10:00:00Z"),
                Interval::Day,
            )
            .await;
            assert_buckets(
                &format!("{key} of {accounts:?} from mid-day to mid-day"),
                &mid_day,
                &[
                    t("2026-03-02T09:00:00Z"),
                    t("2026-03-03T00:00:00Z"),
                    t("2026-03-03T10:00:00Z"),
                ],
                |start, end| expected_base(&rows, key, aggregation, &accounts, start, end),
                tolerance,
            );
        }
    }
}

#[tokio::test]
async fn a_derived_metric_is_the_ratio_of_sums_not_the_average_of_ratios() {
    let app = spawn_app().await;
    let a = app.create_account(Network::Linkedin, "a").await.name;
    let b = app.create_account(Network::Linkedin, "b").await.name;
    let rows = vec![
        // Click-through: a 1 / 4 = 25 %, b 30 / 40 = 75 %.
        obs("clicks", &a, t("2026-03-02T10:00:00Z"), 1.0),
        obs("impressions", &a, t("2026-03-02T10:00:00Z"), 4.0),
        obs("clicks", &b, t("2026-03-02T11:00:00Z"), 30.0),
        obs("impressions", &b, t("2026-03-02T11:00:00Z"), 40.0),
        obs("clicks", &a, t("2026-03-03T10:00:00Z"), 3.0),
        obs("impressions", &a, t("2026-03-03T10:00:00Z"), 8.0),
        // Engagement: a 20 / 200 = 10 %, b 60 / 300 = 20 %.
        obs("likes", &a, t("2026-03-02T09:00:00Z"), 10.0),
        obs("comments", &a, t("2026-03-02T13:00:00Z"), 5.0),
        obs("shares", &a, t("2026-03-02T14:00:00Z"), 5.0),
        obs("followers", &a, t("2026-03-02T08:00:00Z"), 100.0),
        obs("followers", &a, t("2026-03-02T20:00:00Z"), 200.0),
        obs("likes", &b, t("2026-03-02T09:30:00Z"), 60.0),
        obs("followers", &b, t("2026-03-02T12:00:00Z"), 300.0),
    ];
    write(&app, rows.clone()).await.unwrap();
    let day_one = (t("2026-03-02T00:00:00Z"), t("2026-03-03T00:00:00Z"));

    let ctr = query(
        &app,
        "click_through_rate",
        &[],
        day_one.0,
        day_one.1,
        Interval::Unspecified,
    )
    .await;
    let ratio_of_sums = 100.0 * 31.0 / 44.0;
    let average_of_ratios = (25.0 + 75.0) / 2.0;
    let value = ctr[0].value.expect("a click-through rate");
    assert!(
        (value - ratio_of_sums).abs() < 1e-9,
        "{value} is not 100 × 31 / 44"
    );
    assert!((value - average_of_ratios).abs() > 1.0);

    let engagement = query(
        &app,
        "engagement_rate",
        &[],
        day_one.0,
        day_one.1,
        Interval::Unspecified,
    )
    .await;
    let value = engagement[0].value.expect("an engagement rate");
    assert!(
        (value - 16.0).abs() < 1e-9,
        "{value} is not 100 × (10 + 5 + 5 + 60) / (200 + 300), nor the mean of 10 and 20"
    );

    let bounds = [
        t("2026-03-02T00:00:00Z"),
        t("2026-03-03T00:00:00Z"),
        t("2026-03-04T00:00:00Z"),
    ];
    for accounts in [vec![], vec![a.as_str()], vec![b.as_str()], vec![""]] {
        for (key, ratio) in [
            ("click_through_rate", &CLICK_THROUGH_RATE),
            ("engagement_rate", &ENGAGEMENT_RATE),
        ] {
            let daily = query(&app, key, &accounts, bounds[0], bounds[2], Interval::Day).await;
            assert_buckets(
                &format!("{key} of {accounts:?}"),
                &daily,
                &bounds,
                |start, end| expected_ratio(&rows, ratio, &accounts, start, end),
                RATIO,
            );
        }
    }
}

#[tokio::test]
async fn buckets_without_data_have_no_value_which_differs_from_zero() {
    let app = spawn_app().await;
    let a = app.create_account(Network::Youtube, "a").await.name;
    let rows = vec![
        // Day 1: no impressions at all, so a zero denominator.
        obs("impressions", &a, t("2026-03-02T10:00:00Z"), 0.0),
        obs("clicks", &a, t("2026-03-02T10:00:00Z"), 3.0),
        // Day 2: nothing.
        // Day 3: impressions but no clicks, so no numerator.
        obs("impressions", &a, t("2026-03-04T10:00:00Z"), 5.0),
        // Day 4: no clicks out of ten impressions.
        obs("impressions", &a, t("2026-03-05T10:00:00Z"), 10.0),
        obs("clicks", &a, t("2026-03-05T10:00:00Z"), 0.0),
    ];
    write(&app, rows).await.unwrap();
    let start = t("2026-03-02T00:00:00Z");
    let end = t("2026-03-06T00:00:00Z");

    let impressions = query(&app, "impressions", &[], start, end, Interval::Day).await;
    assert_eq!(
        values(&impressions),
        [Some(0.0), None, Some(5.0), Some(10.0)]
    );
    let clicks = query(&app, "clicks", &[], start, end, Interval::Day).await;
    assert_eq!(values(&clicks), [Some(3.0), None, None, Some(0.0)]);
    let ctr = query(&app, "click_through_rate", &[], start, end, Interval::Day).await;
    assert_eq!(
        values(&ctr),
        [None, None, None, Some(0.0)],
        "zero denominator, no data, no numerator, then a real 0 %"
    );
    let nothing = query(&app, "likes", &[], start, end, Interval::Unspecified).await;
    assert_eq!(values(&nothing), [None]);
}

#[tokio::test]
async fn a_missing_term_counts_as_zero_when_its_side_has_other_observations() {
    let app = spawn_app().await;
    let a = app.create_account(Network::Facebook, "a").await.name;
    let rows = vec![
        // Day 1: promoters and responses, no detractors.
        obs("promoters", &a, t("2026-03-02T10:00:00Z"), 30.0),
        obs("nps_responses", &a, t("2026-03-02T10:00:00Z"), 50.0),
        // Day 2: detractors and responses, no promoters.
        obs("detractors", &a, t("2026-03-03T10:00:00Z"), 10.0),
        obs("nps_responses", &a, t("2026-03-03T10:00:00Z"), 50.0),
        // Day 3: everything.
        obs("promoters", &a, t("2026-03-04T10:00:00Z"), 30.0),
        obs("detractors", "", t("2026-03-04T11:00:00Z"), 10.0),
        obs("nps_responses", &a, t("2026-03-04T10:00:00Z"), 40.0),
        // Day 4: promoters but no responses.
        obs("promoters", &a, t("2026-03-05T10:00:00Z"), 5.0),
        // Share of voice: brand mentions without competitor mentions, then
        // competitor mentions only.
        obs("mentions", &a, t("2026-03-02T10:00:00Z"), 5.0),
        obs("competitor_mentions", &a, t("2026-03-03T10:00:00Z"), 5.0),
    ];
    write(&app, rows.clone()).await.unwrap();
    let bounds = [
        t("2026-03-02T00:00:00Z"),
        t("2026-03-03T00:00:00Z"),
        t("2026-03-04T00:00:00Z"),
        t("2026-03-05T00:00:00Z"),
        t("2026-03-06T00:00:00Z"),
    ];

    let nps = query(
        &app,
        "net_promoter_score",
        &[],
        bounds[0],
        bounds[4],
        Interval::Day,
    )
    .await;
    assert_buckets(
        "net promoter score",
        &nps,
        &bounds,
        |start, end| expected_ratio(&rows, &NET_PROMOTER_SCORE, &[], start, end),
        RATIO,
    );
    let nps = values(&nps);
    assert!((nps[0].unwrap() - 60.0).abs() < 1e-9, "{nps:?}");
    assert!((nps[1].unwrap() + 20.0).abs() < 1e-9, "{nps:?}");
    assert!((nps[2].unwrap() - 50.0).abs() < 1e-9, "{nps:?}");
    assert_eq!(nps[3], None, "no responses, no score");

    let sov = query(
        &app,
        "share_of_voice",
        &[],
        bounds[0],
        bounds[4],
        Interval::Day,
    )
    .await;
    assert_buckets(
        "share of voice",
        &sov,
        &bounds,
        |start, end| expected_ratio(&rows, &SHARE_OF_VOICE, &[], start, end),
        RATIO,
    );
    assert_eq!(
        values(&sov),
        [Some(100.0), None, None, None],
        "100 % without competitor mentions; nothing without brand mentions"
    );
}

#[tokio::test]
async fn windows_with_mid_day_edges_equal_the_value_of_the_raw_rows() {
    let app = spawn_app().await;
    let a = app.create_account(Network::Instagram, "a").await.name;
    let b = app.create_account(Network::Instagram, "b").await.name;
    let accounts = ["", a.as_str(), b.as_str()];
    for (key, aggregation) in [
        ("queue_avg", Aggregation::Avg),
        ("queue_min", Aggregation::Min),
        ("queue_max", Aggregation::Max),
    ] {
        create_metric(&app, base_metric(key, aggregation)).await;
    }
    create_metric(
        &app,
        derived_metric(
            "clicks_per_follower",
            vec![term("clicks", 1.0)],
            vec![term("followers", 1.0)],
            100.0,
        ),
    )
    .await;
    const CLICKS_PER_FOLLOWER: Ratio = Ratio {
        numerator: &[("clicks", 1.0, Aggregation::Sum)],
        denominator: &[("followers", 1.0, Aggregation::Last)],
        scale: 100.0,
    };
    let metrics = [
        ("impressions", Aggregation::Sum),
        ("clicks", Aggregation::Sum),
        ("followers", Aggregation::Last),
        ("queue_avg", Aggregation::Avg),
        ("queue_min", Aggregation::Min),
        ("queue_max", Aggregation::Max),
    ];
    // Every 45 minutes from Sunday 1 March to Wednesday 4 March, each account
    // a few minutes apart, with values that vary.
    let first_day = t("2026-03-01T00:00:00Z");
    let mut rows = Vec::new();
    for (m, (key, _)) in metrics.iter().enumerate() {
        for (n, account) in accounts.iter().enumerate() {
            for day in 0..4 {
                for k in 0..32 {
                    let at = first_day
                        + TimeDelta::days(day)
                        + TimeDelta::minutes(45 * k + 7 * n as i64);
                    let value = ((k * 7 + n as i64 * 3 + day * 5 + m as i64) % 23) as f64 * 0.5;
                    rows.push(obs(key, account, at, value));
                }
            }
        }
        // Right at the end of the range (excluded) and just before it.
        rows.push(obs(key, "", t("2026-03-04T14:00:00Z"), 1000.0));
        rows.push(obs(key, &a, t("2026-03-04T13:59:59.999999Z"), 3.0));
    }
    write(&app, rows.clone()).await.unwrap();

    let start = t("2026-03-02T10:30:00Z");
    let end = t("2026-03-04T14:00:00Z");
    assert!(
        rows.iter().any(|row| observed(row) == start),
        "a row sits exactly on the start"
    );
    let ranges: Vec<(&str, Interval, Vec<DateTime<Utc>>)> = vec![
        ("whole range", Interval::Unspecified, vec![start, end]),
        (
            "days",
            Interval::Day,
            vec![
                start,
                t("2026-03-03T00:00:00Z"),
                t("2026-03-04T00:00:00Z"),
                end,
            ],
        ),
        (
            "hours",
            Interval::Hour,
            vec![
                start,
                t("2026-03-02T11:00:00Z"),
                t("2026-03-02T12:00:00Z"),
                t("2026-03-02T13:00:00Z"),
                t("2026-03-02T14:00:00Z"),
                t("2026-03-02T14:15:00Z"),
            ],
        ),
        (
            "a week cut on both sides",
            Interval::Week,
            vec![t("2026-03-01T06:00:00Z"), t("2026-03-02T00:00:00Z"), end],
        ),
        (
            "mid-day to mid-day with no whole day",
            Interval::Unspecified,
            vec![start, t("2026-03-03T09:15:00Z")],
        ),
    ];
    for selection in [vec![], vec![a.as_str()], vec![b.as_str(), ""]] {
        for (description, interval, bounds) in &ranges {
            let (from, to) = (bounds[0], *bounds.last().unwrap());
            for (key, aggregation) in metrics {
                let buckets = query(&app, key, &selection, from, to, *interval).await;
                let tolerance = if aggregation == Aggregation::Avg {
                    RATIO
                } else {
                    EXACT
                };
                assert_buckets(
                    &format!("{key} of {selection:?}, {description}"),
                    &buckets,
                    bounds,
                    |start, end| expected_base(&rows, key, aggregation, &selection, start, end),
                    tolerance,
                );
            }
            for (key, ratio) in [
                ("click_through_rate", &CLICK_THROUGH_RATE),
                ("clicks_per_follower", &CLICKS_PER_FOLLOWER),
            ] {
                let buckets = query(&app, key, &selection, from, to, *interval).await;
                assert_buckets(
                    &format!("{key} of {selection:?}, {description}"),
                    &buckets,
                    bounds,
                    |start, end| expected_ratio(&rows, ratio, &selection, start, end),
                    RATIO,
                );
            }
        }
    }
    assert_rollups_match_observations(&app).await;
}

#[tokio::test]
async fn buckets_align_to_utc_hours_days_iso_weeks_and_months() {
    let app = spawn_app().await;
    // One observation at noon every day from 10 January to 31 March 2026.
    let first = t("2026-01-10T12:00:00Z");
    let rows: Vec<pb::Observation> = (0..81)
        .map(|day| {
            obs(
                "impressions",
                "",
                first + TimeDelta::days(day),
                (day + 1) as f64,
            )
        })
        .collect();
    write(&app, rows.clone()).await.unwrap();

    let cases: Vec<(&str, Interval, Vec<&str>)> = vec![
        (
            "months, cut at both ends",
            Interval::Month,
            vec![
                "2026-01-15T00:00:00Z",
                "2026-02-01T00:00:00Z",
                "2026-03-01T00:00:00Z",
                "2026-03-10T00:00:00Z",
            ],
        ),
        (
            "months across a new year, the first without data",
            Interval::Month,
            vec![
                "2025-12-20T00:00:00Z",
                "2026-01-01T00:00:00Z",
                "2026-02-01T00:00:00Z",
            ],
        ),
        (
            "ISO weeks from a Wednesday noon to a Tuesday",
            Interval::Week,
            vec![
                "2026-03-04T12:00:00Z",
                "2026-03-09T00:00:00Z",
                "2026-03-16T00:00:00Z",
                "2026-03-23T00:00:00Z",
                "2026-03-24T00:00:00Z",
            ],
        ),
        (
            "ISO weeks across a new year, aligned",
            Interval::Week,
            vec![
                "2025-12-29T00:00:00Z",
                "2026-01-05T00:00:00Z",
                "2026-01-12T00:00:00Z",
                "2026-01-19T00:00:00Z",
            ],
        ),
        (
            "days from 06:00 to 06:00",
            Interval::Day,
            vec![
                "2026-03-05T06:00:00Z",
                "2026-03-06T00:00:00Z",
                "2026-03-07T00:00:00Z",
                "2026-03-08T00:00:00Z",
                "2026-03-08T06:00:00Z",
            ],
        ),
        (
            "days, aligned",
            Interval::Day,
            vec![
                "2026-03-05T00:00:00Z",
                "2026-03-06T00:00:00Z",
                "2026-03-07T00:00:00Z",
                "2026-03-08T00:00:00Z",
            ],
        ),
        (
            "hours from half past",
            Interval::Hour,
            vec![
                "2026-03-05T10:30:00Z",
                "2026-03-05T11:00:00Z",
                "2026-03-05T12:00:00Z",
                "2026-03-05T13:00:00Z",
            ],
        ),
        (
            "one bucket without an interval",
            Interval::Unspecified,
            vec!["2026-01-15T00:00:00Z", "2026-03-10T00:00:00Z"],
        ),
        (
            "one short bucket",
            Interval::Month,
            vec!["2026-03-05T11:00:00Z", "2026-03-05T13:00:00Z"],
        ),
    ];
    for (description, interval, bounds) in cases {
        let bounds: Vec<DateTime<Utc>> = bounds.into_iter().map(t).collect();
        let buckets = query(
            &app,
            "impressions",
            &[],
            bounds[0],
            *bounds.last().unwrap(),
            interval,
        )
        .await;
        assert_buckets(
            description,
            &buckets,
            &bounds,
            |start, end| expected_base(&rows, "impressions", Aggregation::Sum, &[], start, end),
            EXACT,
        );
    }
}

#[tokio::test]
async fn custom_metrics_are_written_and_queried_like_builtin_ones() {
    let app = spawn_app().await;
    let a = app.create_account(Network::Linkedin, "a").await.name;
    let b = app.create_account(Network::Linkedin, "b").await.name;
    create_metric(&app, base_metric("webinar_signups", Aggregation::Sum)).await;
    create_metric(&app, base_metric("webinar_invites", Aggregation::Sum)).await;
    create_metric(
        &app,
        derived_metric(
            "webinar_acceptance",
            vec![term("webinar_signups", 1.0)],
            vec![term("webinar_invites", 1.0)],
            100.0,
        ),
    )
    .await;
    create_metric(
        &app,
        derived_metric(
            "weighted_engagement",
            vec![
                term("likes", 1.0),
                term("comments", 2.0),
                term("webinar_signups", -0.5),
            ],
            vec![term("followers", 1.0)],
            1000.0,
        ),
    )
    .await;
    const WEBINAR_ACCEPTANCE: Ratio = Ratio {
        numerator: &[("webinar_signups", 1.0, Aggregation::Sum)],
        denominator: &[("webinar_invites", 1.0, Aggregation::Sum)],
        scale: 100.0,
    };
    const WEIGHTED_ENGAGEMENT: Ratio = Ratio {
        numerator: &[
            ("likes", 1.0, Aggregation::Sum),
            ("comments", 2.0, Aggregation::Sum),
            ("webinar_signups", -0.5, Aggregation::Sum),
        ],
        denominator: &[("followers", 1.0, Aggregation::Last)],
        scale: 1000.0,
    };

    let rows = vec![
        obs("webinar_signups", &a, t("2026-03-02T10:00:00Z"), 3.0),
        obs("webinar_invites", &a, t("2026-03-02T09:00:00Z"), 40.0),
        obs("webinar_signups", &b, t("2026-03-02T15:00:00Z"), 9.0),
        obs("webinar_invites", &b, t("2026-03-02T08:00:00Z"), 12.0),
        obs("webinar_signups", "", t("2026-03-03T10:00:00Z"), 2.0),
        obs("webinar_invites", "", t("2026-03-03T10:00:00Z"), 8.0),
        obs("likes", &a, t("2026-03-02T11:00:00Z"), 20.0),
        obs("comments", &a, t("2026-03-02T12:00:00Z"), 4.0),
        obs("followers", &a, t("2026-03-02T13:00:00Z"), 1000.0),
        obs("likes", &b, t("2026-03-03T11:00:00Z"), 6.0),
        obs("followers", &b, t("2026-03-03T13:00:00Z"), 250.0),
    ];
    assert_eq!(write(&app, rows.clone()).await.unwrap(), 11);

    let bounds = [
        t("2026-03-02T00:00:00Z"),
        t("2026-03-03T00:00:00Z"),
        t("2026-03-04T00:00:00Z"),
    ];
    let signups = query(
        &app,
        "webinar_signups",
        &[],
        bounds[0],
        bounds[2],
        Interval::Day,
    )
    .await;
    assert_eq!(values(&signups), [Some(12.0), Some(2.0)]);
    for accounts in [vec![], vec![a.as_str()], vec![b.as_str(), ""]] {
        for (key, ratio) in [
            ("webinar_acceptance", &WEBINAR_ACCEPTANCE),
            ("weighted_engagement", &WEIGHTED_ENGAGEMENT),
        ] {
            let daily = query(&app, key, &accounts, bounds[0], bounds[2], Interval::Day).await;
            assert_buckets(
                &format!("{key} of {accounts:?}"),
                &daily,
                &bounds,
                |start, end| expected_ratio(&rows, ratio, &accounts, start, end),
                RATIO,
            );
        }
    }

    // A custom derived metric is computed, never observed.
    let error = write(
        &app,
        vec![obs(
            "webinar_acceptance",
            &a,
            t("2026-03-02T10:00:00Z"),
            1.0,
        )],
    )
    .await
    .unwrap_err();
    assert_violations(&error, &["observations[0].metric_key"]);
}

#[tokio::test]
async fn bad_queries_are_rejected_naming_the_field() {
    let app = spawn_app().await;
    let account = app.create_account(Network::Other, "acme").await.name;
    let start = t("2026-03-02T00:00:00Z");
    let end = t("2026-03-03T00:00:00Z");
    let good = || pb::QueryMetricRequest {
        metric_key: "likes".into(),
        accounts: vec![account.clone()],
        start: Some(ts(start)),
        end: Some(ts(end)),
        interval: Interval::Day as i32,
    };
    let mut client = metric_client(&app);
    client.query_metric(good()).await.expect("a good query");

    let cases: Vec<(&str, pb::QueryMetricRequest, Vec<&str>)> = vec![
        (
            "no metric key",
            pb::QueryMetricRequest {
                metric_key: String::new(),
                ..good()
            },
            vec!["metric_key"],
        ),
        (
            "no start",
            pb::QueryMetricRequest {
                start: None,
                ..good()
            },
            vec!["start"],
        ),
        (
            "no end",
            pb::QueryMetricRequest {
                end: None,
                ..good()
            },
            vec!["end"],
        ),
        (
            "neither start nor end",
            pb::QueryMetricRequest {
                start: None,
                end: None,
                ..good()
            },
            vec!["end", "start"],
        ),
        (
            "end equal to start",
            pb::QueryMetricRequest {
                end: Some(ts(start)),
                ..good()
            },
            vec!["end"],
        ),
        (
            "end before start",
            pb::QueryMetricRequest {
                start: Some(ts(end)),
                end: Some(ts(start)),
                ..good()
            },
            vec!["end"],
        ),
        (
            "start before 1970",
            pb::QueryMetricRequest {
                start: Some(ts(t("1969-12-31T00:00:00Z"))),
                end: Some(ts(t("1970-01-02T00:00:00Z"))),
                ..good()
            },
            vec!["start"],
        ),
        (
            "malformed account",
            pb::QueryMetricRequest {
                accounts: vec![account.clone(), "accounts/x".into()],
                ..good()
            },
            vec!["accounts[1]"],
        ),
        (
            "name of another kind of resource",
            pb::QueryMetricRequest {
                accounts: vec!["audits/0190b6f4-5e6b-7c1d-9a2e-3f4a5b6c7d8e".into()],
                ..good()
            },
            vec!["accounts[0]"],
        ),
        (
            "unknown account",
            pb::QueryMetricRequest {
                accounts: vec![String::new(), MISSING_ACCOUNT.into()],
                ..good()
            },
            vec!["accounts[1]"],
        ),
        (
            "unknown interval number",
            pb::QueryMetricRequest {
                interval: 9,
                ..good()
            },
            vec!["interval"],
        ),
        (
            "several problems at once",
            pb::QueryMetricRequest {
                metric_key: String::new(),
                accounts: vec!["x".into()],
                start: None,
                ..good()
            },
            vec!["accounts[0]", "metric_key", "start"],
        ),
    ];
    for (description, request, fields) in cases {
        let error = client.query_metric(request).await.expect_err(description);
        // Every violation is reported; their order is not part of the
        // contract, so both sides are compared sorted.
        assert_error(&error, Code::InvalidArgument, "INVALID_ARGUMENT");
        let mut found: Vec<String> = error
            .get_error_details()
            .bad_request()
            .unwrap_or_else(|| panic!("{description}: no BadRequest in {error:?}"))
            .field_violations
            .iter()
            .map(|violation| violation.field.clone())
            .collect();
        found.sort();
        assert_eq!(found, fields, "{description}: {error:?}");
    }

    let error = client
        .query_metric(pb::QueryMetricRequest {
            start: Some(ts(t("2024-01-01T00:00:00Z"))),
            end: Some(ts(t("2026-01-01T00:00:00Z"))),
            interval: Interval::Hour as i32,
            ..good()
        })
        .await
        .unwrap_err();
    assert_eq!(
        error.code(),
        Code::InvalidArgument,
        "over 10,000 buckets: {error:?}"
    );

    let error = client
        .query_metric(pb::QueryMetricRequest {
            metric_key: "nope".into(),
            ..good()
        })
        .await
        .unwrap_err();
    assert_error(&error, Code::NotFound, "METRIC_NOT_FOUND");
}

#[tokio::test]
async fn completing_an_audit_records_its_base_metric_values_as_observations() {
    let app = spawn_app().await;
    let a = app.create_account(Network::Instagram, "a").await.name;
    let b = app.create_account(Network::X, "b").await.name;
    let as_of = t("2026-06-01T12:00:00Z");
    let entry = |account: &str, metrics: &[(&str, f64)]| pb::AuditEntry {
        account: account.to_owned(),
        metrics: metrics
            .iter()
            .map(|(key, value)| ((*key).to_owned(), *value))
            .collect(),
        ..Default::default()
    };
    let audit = app
        .audits()
        .create_audit(pb::CreateAuditRequest {
            audit: Some(pb::Audit {
                title: "Mid-year audit".into(),
                as_of: Some(ts(as_of)),
                entries: vec![
                    entry(
                        &a,
                        &[
                            ("followers", 1000.0),
                            ("likes", 50.0),
                            ("engagement_rate", 3.5),
                        ],
                    ),
                    entry(&b, &[("followers", 200.0), ("impressions", 4000.0)]),
                ],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        list_all(&app, "").await.is_empty(),
        "a draft records nothing"
    );

    app.audits()
        .complete_audit(pb::CompleteAuditRequest {
            name: audit.name.clone(),
            etag: String::new(),
        })
        .await
        .unwrap();
    let listed = list_all(&app, "").await;
    let found: Vec<(&str, &str, DateTime<Utc>, f64, &str)> = listed
        .iter()
        .map(|row| {
            (
                row.metric_key.as_str(),
                row.account.as_str(),
                observed(row),
                row.value,
                row.source.as_str(),
            )
        })
        .collect();
    let mut expected = vec![
        ("followers", a.as_str(), as_of, 1000.0, audit.name.as_str()),
        ("followers", b.as_str(), as_of, 200.0, audit.name.as_str()),
        (
            "impressions",
            b.as_str(),
            as_of,
            4000.0,
            audit.name.as_str(),
        ),
        ("likes", a.as_str(), as_of, 50.0, audit.name.as_str()),
    ];
    expected.sort_by(|x, y| (x.0, x.1).cmp(&(y.0, y.1)));
    assert_eq!(
        found, expected,
        "base metrics only, at as_of, sourced to the audit"
    );
    assert!(listed.iter().all(|row| row.recorded_at.is_some()));
    assert_rollups_match_observations(&app).await;

    // The snapshot counts like any other observation.
    let followers = query(
        &app,
        "followers",
        &[],
        as_of - TimeDelta::hours(1),
        as_of + TimeDelta::hours(1),
        Interval::Unspecified,
    )
    .await;
    assert_eq!(values(&followers), [Some(1200.0)]);
}

#[tokio::test]
async fn rollups_stay_exact_when_days_span_many_batches_of_a_long_stream() {
    // Loads are cut into batches of 50,000 rows; rows in time order make each
    // day span several batches, and a second load lands in days that already
    // have rollups. Every rollup must still equal the aggregate of its rows.
    let app = spawn_app().await;
    let accounts = [
        app.create_account(Network::Instagram, "long-a").await.name,
        app.create_account(Network::Facebook, "long-b").await.name,
    ];
    let start = t("2026-10-01T00:00:00Z");
    // One row per account per second: a day holds 172,800 rows.
    let rows_in_time_order = |offset_millis: i64, count: usize| -> Vec<pb::Observation> {
        (0..count)
            .map(|index| {
                let account = &accounts[index % accounts.len()];
                let step = i64::try_from(index / accounts.len()).unwrap();
                let at = start + chrono::TimeDelta::milliseconds(offset_millis + step * 1000);
                obs(
                    "likes",
                    account,
                    at,
                    f64::from(u32::try_from(index % 97).unwrap()),
                )
            })
            .collect()
    };
    let chunks = |rows: Vec<pb::Observation>| -> Vec<Vec<pb::Observation>> {
        rows.chunks(10_000)
            .map(<[pb::Observation]>::to_vec)
            .collect()
    };

    let first = rows_in_time_order(0, 120_000);
    let written = stream(&app, chunks(first)).await.unwrap();
    assert_eq!(written.observation_count, 120_000);
    assert_rollups_match_observations(&app).await;

    // Half a second later: interleaved with the first load's rows, same day.
    let second = rows_in_time_order(500, 60_000);
    stream(&app, chunks(second)).await.unwrap();
    assert_rollups_match_observations(&app).await;
}

#[tokio::test]
async fn a_stream_that_returns_to_an_earlier_day_keeps_its_rollup_exact() {
    // The first day's rollup is inserted after the load's first batches; the
    // stream then moves to the next day and comes back to the first one, so
    // the same load meets its own rollup and must fold into it.
    let app = spawn_app().await;
    let account = app.create_account(Network::Tiktok, "returns").await.name;
    let day_one = t("2026-09-01T00:00:00Z");
    let day_two = day_one + TimeDelta::days(1);
    let rows = |from: DateTime<Utc>, offset_millis: i64, count: i64, value: f64| {
        (0..count)
            .map(|i| {
                obs(
                    "likes",
                    &account,
                    from + TimeDelta::milliseconds(offset_millis + i * 1000),
                    value + (i % 7) as f64,
                )
            })
            .collect::<Vec<_>>()
    };
    let mut all = rows(day_one, 0, 60_000, 1.0);
    all.extend(rows(day_two, 0, 60_000, 10.0));
    all.extend(rows(day_one, 500, 30_000, 100.0));
    let chunks: Vec<Vec<pb::Observation>> = all.chunks(10_000).map(<[_]>::to_vec).collect();
    let written = stream(&app, chunks).await.unwrap();
    assert_eq!(written.observation_count, 150_000);
    assert_rollups_match_observations(&app).await;
    let daily = query(
        &app,
        "likes",
        &[],
        day_one,
        day_two + TimeDelta::days(1),
        Interval::Day,
    )
    .await;
    assert_buckets(
        "likes by day",
        &daily,
        &[day_one, day_two, day_two + TimeDelta::days(1)],
        |from, to| expected_base(&all, "likes", Aggregation::Sum, &[], from, to),
        EXACT,
    );
}

#[tokio::test]
async fn a_write_to_days_a_running_stream_covers_is_not_held_up_by_it() {
    // A long backfill must not make a live writer of the same days wait for
    // the backfill to end: the stream leaves the rollups alone until it
    // finishes.
    let app = spawn_app().await;
    let account = app.create_account(Network::Youtube, "live").await.name;
    let day = t("2026-08-03T00:00:00Z");
    let rows: Vec<pb::Observation> = (0..200_000_i64)
        .map(|i| {
            // 60,000 rows on `day`, then 140,000 on the next day.
            let at = if i < 60_000 {
                day + TimeDelta::seconds(i)
            } else {
                day + TimeDelta::days(1) + TimeDelta::milliseconds((i - 60_000) * 500)
            };
            obs("likes", &account, at, (i % 5) as f64)
        })
        .collect();
    let (chunks, receiver) = tokio::sync::mpsc::channel(2);
    let mut client = metric_client(&app);
    let call = tokio::spawn(async move {
        client
            .stream_observations(ReceiverStream::new(receiver))
            .await
            .map(|response| response.into_inner())
    });
    for chunk in rows.chunks(10_000) {
        chunks
            .send(pb::StreamObservationsRequest {
                observations: chunk.to_vec(),
            })
            .await
            .unwrap();
    }
    // Wait until the service has loaded two batches (100,000 rows, over
    // 6 MB of heap): past `day`, whose rollup a stream writing rollups as it
    // went would now hold locked.
    let loaded = async {
        loop {
            let bytes: i64 = sqlx::query_scalar("select pg_relation_size('observation_y2026')")
                .fetch_one(&app.pool)
                .await
                .unwrap();
            if bytes >= 6_000_000 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), loaded)
        .await
        .expect("the stream's first batches are loaded");
    tokio::time::sleep(Duration::from_millis(500)).await;

    let live = obs("likes", &account, day + TimeDelta::milliseconds(500), 100.0);
    let written = tokio::time::timeout(Duration::from_secs(10), write(&app, vec![live.clone()]))
        .await
        .expect("the write is not held up by the running stream");
    assert_eq!(written.unwrap(), 1);

    drop(chunks);
    let streamed = call.await.unwrap().unwrap();
    assert_eq!(streamed.observation_count, 200_000);
    assert_rollups_match_observations(&app).await;
    let mut all = rows;
    all.push(live);
    let daily = query(
        &app,
        "likes",
        &[],
        day,
        day + TimeDelta::days(2),
        Interval::Day,
    )
    .await;
    assert_buckets(
        "likes by day",
        &daily,
        &[day, day + TimeDelta::days(1), day + TimeDelta::days(2)],
        |from, to| expected_base(&all, "likes", Aggregation::Sum, &[], from, to),
        EXACT,
    );
}
