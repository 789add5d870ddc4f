//! Reading observations: ListObservations and QueryMetric.
//!
//! QueryMetric reads whole UTC days from the daily rollups and partial days
//! from raw observations, aggregates each series per bucket in SQL, and
//! combines series and formula terms with the pure rules of
//! [`super::aggregate`], so the answer is the same whichever source served a
//! day.

use std::collections::HashSet;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;
use sqlx::{Connection, PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use super::aggregate::Combined;
use super::buckets::{self, Interval};
use super::catalog::{self, Computation};
use crate::accounts;
use crate::api::filter::{FieldKind, FilterField};
use crate::api::list::ListRequest;
use crate::api::names::ACCOUNTS;
use crate::api::time;
use crate::api::validate::{self, Lines};
use crate::error::{ApiError, ResourceKind, Violations};
use crate::pb;

/// The most accounts one query may name.
pub const MAX_QUERY_ACCOUNTS: usize = 1000;

/// The fields ListObservations filters on.
static OBSERVATION_FILTER_FIELDS: LazyLock<Vec<FilterField>> = LazyLock::new(|| {
    vec![
        FilterField {
            name: "metric_key",
            column: "s.metric_key",
            kind: FieldKind::Key,
        },
        FilterField {
            name: "account",
            column: "s.account_id",
            kind: FieldKind::OptionalReference(ACCOUNTS),
        },
        FilterField {
            name: "observed_at",
            column: "o.observed_at",
            kind: FieldKind::Timestamp,
        },
    ]
});

/// The keyset position of an observation: (metric key, account or the nil
/// UUID for the organisation-wide series, microseconds of observed_at).
type ObservationKey = (String, Uuid, i64);

#[derive(sqlx::FromRow)]
struct ObservationListRow {
    metric_key: String,
    account_id: Option<Uuid>,
    observed_at: DateTime<Utc>,
    value: f64,
    source: String,
    recorded_at: DateTime<Utc>,
}

/// ListObservations.
pub async fn list_observations(
    conn: &mut PgConnection,
    request: pb::ListObservationsRequest,
) -> Result<pb::ListObservationsResponse, ApiError> {
    let pb::ListObservationsRequest {
        page_size,
        page_token,
        filter,
    } = request;
    let list: ListRequest<ObservationKey> =
        ListRequest::parse(page_size, &page_token, filter, &OBSERVATION_FILTER_FIELDS)?;
    // Series are walked in list order through `series_list_order_idx`
    // (the organisation-wide series sorting first as the nil UUID, which
    // keeps the keyset comparison a plain row comparison), and each series'
    // rows read through the (series, time) index with a limit: a page reads
    // about `page_size` rows however many match. The outer order only adds
    // an incremental sort of each series' (already ordered) rows.
    const LIST_ORDER: &str =
        "s.metric_key, coalesce(s.account_id, '00000000-0000-0000-0000-000000000000'::uuid)";
    let (time_conditions, series_conditions) = list
        .conditions
        .partition(|column| column == "o.observed_at");
    let mut query: QueryBuilder<Postgres> = QueryBuilder::new(
        "select s.metric_key, s.account_id, o.observed_at, o.value,
                (select name from observation_source src where src.source_id = o.source_id) as source,
                o.recorded_at
         from series s
         cross join lateral (
             select o.observed_at, o.value, o.source_id, o.recorded_at from observation o
             where o.series_id = s.series_id",
    );
    time_conditions.push_to(&mut query);
    if let Some((metric_key, account, micros)) = &list.after {
        // Within the series the last page ended in, only later rows; a plain
        // bound on observed_at, so the index scan starts there.
        let observed_at = DateTime::from_timestamp_micros(*micros).unwrap_or_default();
        query
            .push(" and o.observed_at > case when (")
            .push(LIST_ORDER)
            .push(") = (")
            .push_bind(metric_key.clone())
            .push(", ")
            .push_bind(*account)
            .push(") then ")
            .push_bind(observed_at)
            .push(" else '-infinity'::timestamptz end");
    }
    query
        .push(" order by o.observed_at limit ")
        .push_bind(list.fetch_limit())
        .push(") o where true");
    series_conditions.push_to(&mut query);
    if let Some((metric_key, account, _)) = &list.after {
        query
            .push(" and (")
            .push(LIST_ORDER)
            .push(") >= (")
            .push_bind(metric_key.clone())
            .push(", ")
            .push_bind(*account)
            .push(")");
    }
    query
        .push(" order by ")
        .push(LIST_ORDER)
        .push(", o.observed_at limit ")
        .push_bind(list.fetch_limit());
    // Not kept as a prepared statement: PostgreSQL would, on its sixth run
    // on a connection, also build a generic plan over every yearly
    // partition, a spike of tens of milliseconds, only to keep the custom
    // plans (the bounds prune partitions and pick the index walk).
    let rows: Vec<ObservationListRow> = query
        .build_query_as()
        .persistent(false)
        .fetch_all(&mut *conn)
        .await?;
    let (rows, next_page_token) = list.into_page(rows, |row| {
        (
            row.metric_key.clone(),
            row.account_id.unwrap_or(Uuid::nil()),
            row.observed_at.timestamp_micros(),
        )
    });
    Ok(pb::ListObservationsResponse {
        observations: rows
            .into_iter()
            .map(|row| pb::Observation {
                metric_key: row.metric_key,
                account: row
                    .account_id
                    .map(|id| ACCOUNTS.name(id))
                    .unwrap_or_default(),
                observed_at: Some(time::to_proto(row.observed_at)),
                value: row.value,
                source: row.source,
                recorded_at: Some(time::to_proto(row.recorded_at)),
            })
            .collect(),
        next_page_token,
    })
}

/// Which series a query reads.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AccountSelection {
    /// Every account and the organisation-wide series.
    All,
    /// These accounts, and the organisation-wide series when `organisation`.
    Some {
        accounts: Vec<Uuid>,
        organisation: bool,
    },
}

struct ValidQuery {
    metric_key: String,
    selection: AccountSelection,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    interval: Interval,
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
        AccountSelection::All
    } else {
        accounts.sort();
        accounts.dedup();
        AccountSelection::Some {
            accounts,
            organisation,
        }
    };
    violations.finish(ValidQuery {
        metric_key: request.metric_key.clone(),
        selection,
        start,
        end,
        interval,
        buckets,
    })
}

/// Every selected series' observations in a query's buckets, aggregated in
/// SQL down to one row per bucket and base metric, so the service's memory
/// follows the number of buckets, never accounts × days.
///
/// Whole UTC days come from the daily rollups, the (at most two) raw ranges
/// of the plan from observations (an unused range is empty; plain
/// parameters, so the (series, time) index and partition pruning apply).
/// The selected series are handed to both reads as one array (an init
/// plan), so each is an index scan per series rather than a join the
/// planner might hash over a whole partition. Bucket numbers come from
/// `width_bucket` over the bucket starts. Each
/// series' latest value in a bucket is taken with `max` over
/// (microseconds, value) pairs rather than an ordered `array_agg`, which
/// would sort every row: a plain aggregate, hashed (and spilled to disk by
/// PostgreSQL when large).
const BUCKET_AGGREGATES: &str = "
with selected as (
    select series_id, metric_key from series
    where metric_key = any($1)
      and ($2 or account_id = any($3) or ($4 and account_id is null))
),
parts as (
    select d.series_id,
           (width_bucket(d.day::timestamp at time zone 'UTC', $5::timestamptz[]) - 1)::int4 as bucket,
           d.value_sum, d.value_count, d.value_min, d.value_max, d.last_value, d.last_observed_at
    from observation_daily d
    where d.series_id = any((select array_agg(series_id) from selected)::int8[])
      and d.day >= $6 and d.day < $7
    union all
    select o.series_id, (width_bucket(o.observed_at, $5::timestamptz[]) - 1)::int4,
           o.value, 1, o.value, o.value, o.value, o.observed_at
    from observation o
    where o.series_id = any((select array_agg(series_id) from selected)::int8[])
      and ((o.observed_at >= $8 and o.observed_at < $9) or (o.observed_at >= $10 and o.observed_at < $11))
),
per_series as (
    select series_id, bucket, sum(value_sum) as value_sum, sum(value_count) as value_count,
           min(value_min) as value_min, max(value_max) as value_max,
           (max(array[(extract(epoch from last_observed_at) * 1000000)::float8, last_value]))[2]
               as last_value
    from parts
    group by series_id, bucket
)
select p.bucket, s.metric_key, sum(p.value_sum) as value_sum, sum(p.value_count)::int8 as value_count,
       min(p.value_min) as value_min, max(p.value_max) as value_max, sum(p.last_value) as last_sum
from per_series p join selected s using (series_id)
where p.bucket >= 0
group by p.bucket, s.metric_key";

#[derive(sqlx::FromRow)]
struct BucketRow {
    bucket: i32,
    metric_key: String,
    value_sum: f64,
    value_count: i64,
    value_min: f64,
    value_max: f64,
    last_sum: f64,
}

/// QueryMetric: every statement reads one snapshot (a read-only repeatable
/// read transaction), so a query racing a write sees all of it or none.
pub async fn query_metric(
    conn: &mut PgConnection,
    request: pb::QueryMetricRequest,
) -> Result<pb::QueryMetricResponse, ApiError> {
    let query = parse_query(&request)?;
    let mut tx = conn
        .begin_with("begin isolation level repeatable read, read only")
        .await?;
    let catalog = catalog::load_all(&mut tx).await?;
    let metric = catalog
        .get(&query.metric_key)
        .ok_or_else(|| ApiError::NotFound {
            kind: ResourceKind::Metric,
            name: format!("metrics/{}", query.metric_key),
        })?;
    if let AccountSelection::Some { accounts, .. } = &query.selection {
        let missing: HashSet<Uuid> = accounts::repo::missing(&mut *tx, accounts)
            .await?
            .into_iter()
            .collect();
        if !missing.is_empty() {
            let mut violations = Violations::default();
            for (index, account) in request.accounts.iter().enumerate() {
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
            return Err(violations.into_error());
        }
    }

    let computation = metric.computation()?;
    let base_keys: Vec<&str> = match &computation {
        Computation::Base(_) => vec![query.metric_key.as_str()],
        Computation::Derived(formula) => formula.terms(),
    };
    let combined = read_buckets(&mut tx, &query, &base_keys).await?;
    tx.commit().await?;
    let aggregation_of = |key: &str| {
        catalog
            .get(key)
            .and_then(|record| match record.computation() {
                Ok(Computation::Base(aggregation)) => Some(aggregation),
                _ => None,
            })
    };
    let base_value = |bucket: usize, key: &str| -> Option<f64> {
        Some(combined.get(&(bucket, key))?.value(aggregation_of(key)?))
    };
    Ok(pb::QueryMetricResponse {
        buckets: query
            .buckets
            .iter()
            .enumerate()
            .map(|(index, bucket)| pb::MetricBucket {
                start: Some(time::to_proto(bucket.start)),
                end: Some(time::to_proto(bucket.end)),
                value: match &computation {
                    Computation::Base(_) => base_value(index, &query.metric_key),
                    Computation::Derived(formula) => formula.evaluate(|key| base_value(index, key)),
                },
            })
            .collect(),
    })
}

/// The observations of `metric_keys` in each bucket of `query`, combined
/// across the selected series, by (bucket index, metric key).
async fn read_buckets<'k>(
    conn: &mut PgConnection,
    query: &ValidQuery,
    metric_keys: &[&'k str],
) -> Result<FxHashMap<(usize, &'k str), Combined>, ApiError> {
    let plan = buckets::read_plan(query.start, query.end, query.interval);
    // No whole day: an empty day range (within PostgreSQL's date range).
    let epoch = DateTime::UNIX_EPOCH.date_naive();
    let (first_day, after_last_day) = plan.rollup_days.unwrap_or((epoch, epoch));
    let (all, accounts, organisation) = match &query.selection {
        AccountSelection::All => (true, Vec::new(), true),
        AccountSelection::Some {
            accounts,
            organisation,
        } => (false, accounts.clone(), *organisation),
    };
    let bucket_starts: Vec<DateTime<Utc>> =
        query.buckets.iter().map(|bucket| bucket.start).collect();
    let empty = buckets::Bucket {
        start: query.start,
        end: query.start,
    };
    let leading = plan.raw_ranges.first().copied().unwrap_or(empty);
    let trailing = plan.raw_ranges.get(1).copied().unwrap_or(empty);
    let rows: Vec<BucketRow> = sqlx::query_as(BUCKET_AGGREGATES)
        .bind(metric_keys)
        .bind(all)
        .bind(&accounts)
        .bind(organisation)
        .bind(&bucket_starts)
        .bind(first_day)
        .bind(after_last_day)
        .bind(leading.start)
        .bind(leading.end)
        .bind(trailing.start)
        .bind(trailing.end)
        .fetch_all(&mut *conn)
        .await?;
    let mut combined = FxHashMap::default();
    for row in rows {
        let (Ok(bucket), Some(key)) = (
            usize::try_from(row.bucket),
            metric_keys.iter().find(|key| **key == row.metric_key),
        ) else {
            continue;
        };
        combined.insert(
            (bucket, *key),
            Combined {
                sum: row.value_sum,
                count: row.value_count,
                min: row.value_min,
                max: row.value_max,
                last_sum: row.last_sum,
            },
        );
    }
    Ok(combined)
}
