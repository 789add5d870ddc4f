//! QueryMetric: a thin adapter that parses the request into buckets and a
//! selection, asks the [window evaluator](super::evaluate) for their values
//! and converts them back.

use std::collections::HashSet;

use chrono::DateTime;
use sqlx::PgConnection;
use uuid::Uuid;

use super::ReadCaches;
use super::buckets::{self, Interval};
use super::evaluate::{self, MetricPlan, Selection, Window};
use crate::accounts;
use crate::api::names::ACCOUNTS;
use crate::api::time;
use crate::api::validate::{self, Lines};
use crate::db::snapshot;
use crate::error::{ApiError, ResourceKind, Violations};
use crate::pb;

/// The most accounts one query may name.
pub const MAX_QUERY_ACCOUNTS: usize = 1000;

struct ValidQuery {
    metric_key: String,
    selection: Selection,
    buckets: Vec<buckets::Bucket>,
}

fn parse_query(request: &pb::QueryMetricRequest) -> Result<ValidQuery, ApiError> {
    let mut violations = Violations::default();
    if request.metric_key.is_empty() {
        violations.add(
            "metric_key",
            "is required, such as followers or engagement_rate",
        );
    } else {
        validate::plain(
            &mut violations,
            "metric_key",
            &request.metric_key,
            Lines::Single,
        );
    }
    let mut read_time = |field: &str, value: &Option<prost_types::Timestamp>| match value {
        None => {
            violations.add(field, "is required");
            None
        }
        Some(timestamp) => violations.absorb(time::from_proto(field, timestamp)),
    };
    let start = read_time("start", &request.start);
    let end = read_time("end", &request.end);
    if let Some(start) = start
        && start < DateTime::UNIX_EPOCH
    {
        violations.add("start", "must not be before 1970-01-01T00:00:00Z");
    }
    if let (Some(start), Some(end)) = (start, end)
        && end <= start
    {
        violations.add("end", "must be after start");
    }
    let interval = match validate::enum_value::<pb::Interval>(
        &mut violations,
        "interval",
        request.interval,
        false,
    ) {
        Some(pb::Interval::Hour) => Interval::Hour,
        Some(pb::Interval::Day) => Interval::Day,
        Some(pb::Interval::Week) => Interval::Week,
        Some(pb::Interval::Month) => Interval::Month,
        Some(pb::Interval::Unspecified) | None => Interval::Whole,
    };
    if request.accounts.len() > MAX_QUERY_ACCOUNTS {
        violations.add(
            "accounts",
            format!(
                "names {} accounts, at most {MAX_QUERY_ACCOUNTS}: leave it empty for every account",
                request.accounts.len()
            ),
        );
    }
    let mut accounts = Vec::new();
    let mut organisation = false;
    for (index, account) in request.accounts.iter().enumerate() {
        if account.is_empty() {
            organisation = true;
        } else if let Some(id) =
            violations.absorb(ACCOUNTS.parse(&format!("accounts[{index}]"), account))
        {
            accounts.push(id);
        }
    }
    let (Some(start), Some(end)) = (start, end) else {
        return Err(violations.into_error());
    };
    let buckets = if end > start {
        buckets::buckets(start, end, interval).unwrap_or_else(|limit| {
            violations.add(
                "interval",
                format!("would cut the range into more than {limit} buckets: use a longer interval or a shorter range"),
            );
            Vec::new()
        })
    } else {
        Vec::new()
    };
    let selection = if request.accounts.is_empty() {
        Selection::All
    } else {
        accounts.sort();
        accounts.dedup();
        Selection::Some {
            accounts,
            organisation,
        }
    };
    violations.finish(ValidQuery {
        metric_key: request.metric_key.clone(),
        selection,
        buckets,
    })
}

/// QueryMetric: every statement reads one snapshot (a read-only repeatable
/// read transaction), so a query racing a write sees all of it or none.
pub async fn query_metric(
    conn: &mut PgConnection,
    caches: &ReadCaches,
    request: pb::QueryMetricRequest,
) -> Result<pb::QueryMetricResponse, ApiError> {
    let query = parse_query(&request)?;
    let mut tx = snapshot::begin(conn).await?;
    let catalog = caches
        .catalog
        .covering(&mut tx, [query.metric_key.as_str()])
        .await?;
    let plan =
        MetricPlan::resolve(&catalog, &query.metric_key).ok_or_else(|| ApiError::NotFound {
            kind: ResourceKind::Metric,
            name: format!("metrics/{}", query.metric_key),
        })?;
    if let Selection::Some { accounts, .. } = &query.selection {
        check_accounts_exist(&mut tx, accounts, &request.accounts).await?;
    }
    let windows: Vec<Window> = query
        .buckets
        .iter()
        .map(|bucket| Window::half_open(bucket.start, bucket.end))
        .collect();
    let values =
        evaluate::evaluate(&mut tx, &caches.series, &plan, &query.selection, &windows).await?;
    snapshot::end(tx);
    Ok(pb::QueryMetricResponse {
        buckets: query
            .buckets
            .iter()
            .zip(values)
            .map(|(bucket, value)| pb::MetricBucket {
                start: Some(time::to_proto(bucket.start)),
                end: Some(time::to_proto(bucket.end)),
                value,
            })
            .collect(),
    })
}

/// INVALID_ARGUMENT naming each `accounts[i]` of the request that does not
/// exist.
async fn check_accounts_exist(
    conn: &mut PgConnection,
    ids: &[Uuid],
    names: &[String],
) -> Result<(), ApiError> {
    let missing: HashSet<Uuid> = accounts::repo::missing(&mut *conn, ids)
        .await?
        .into_iter()
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut violations = Violations::default();
    for (index, account) in names.iter().enumerate() {
        if ACCOUNTS
            .id_of(account)
            .is_some_and(|id| missing.contains(&id))
        {
            violations.add(
                format!("accounts[{index}]"),
                format!("{account} does not exist"),
            );
        }
    }
    Err(violations.into_error())
}
