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

mod aggregation;
mod last_everywhere;
mod listing;
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
                    max(observed_at) as last_observed_at, min(observed_at) as first_observed_at
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
            or r.last_observed_at is distinct from d.last_observed_at
            or r.first_observed_at is distinct from d.first_observed_at",
    )
    .fetch_all(&app.pool)
    .await
    .expect("compare rollups with observations");
    assert!(
        mismatches.is_empty(),
        "rollups out of step: {mismatches:#?}"
    );
    // Every observation carries its series' metric number, which the
    // (metric, time) index reads by.
    let misfiled: i64 = sqlx::query_scalar(
        "select count(*) from observation o join series s using (series_id)
         where o.metric_id <> s.metric_id
            or s.metric_id <> (select metric_id from metric_definition m where m.metric_key = s.metric_key)",
    )
    .fetch_one(&app.pool)
    .await
    .expect("compare observations' metric numbers with their series'");
    assert_eq!(misfiled, 0, "observations filed under another metric");
    // The organisation-level rollups are every series' rollups of a metric
    // and day together (sums compared to the last few bits: they are added
    // up in a different order), with the count of series observed the day
    // before and not on the day.
    let mismatches: Vec<String> = sqlx::query_scalar(
        "with combined as (
             select s.metric_key, d.day, sum(d.value_sum) as value_sum,
                    sum(d.value_count)::int8 as value_count,
                    min(d.value_min) as value_min, max(d.value_max) as value_max,
                    sum(d.last_value) as last_sum,
                    max(d.last_observed_at) as last_observed_at,
                    min(d.first_observed_at) as first_observed_at
             from observation_daily d join series s using (series_id)
             group by 1, 2
         ),
         departed as (
             select s.metric_key, d.day + 1 as day, count(*) as departures
             from observation_daily d join series s using (series_id)
             left join observation_daily n on n.series_id = d.series_id and n.day = d.day + 1
             where n.series_id is null
             group by 1, 2
         )
         select format('%s on %s: series %s, departures %s, organisation %s',
                       metric_key, day, c, x.departures, g)
         from combined c full join observation_daily_organisation g using (metric_key, day)
         left join departed x using (metric_key, day)
         where c.value_count is distinct from g.value_count
            or c.value_min is distinct from g.value_min
            or c.value_max is distinct from g.value_max
            or abs(c.value_sum - g.value_sum) > 1e-9 * greatest(1, abs(c.value_sum))
            or abs(c.last_sum - g.last_sum) > 1e-9 * greatest(1, abs(c.last_sum))
            or c.last_observed_at is distinct from g.last_observed_at
            or c.first_observed_at is distinct from g.first_observed_at
            or coalesce(x.departures, 0) is distinct from g.departures",
    )
    .fetch_all(&app.pool)
    .await
    .expect("compare organisation rollups with series rollups");
    assert!(
        mismatches.is_empty(),
        "organisation rollups out of step: {mismatches:#?}"
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
