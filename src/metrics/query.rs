//! Reading observations: ListObservations and QueryMetric.
//!
//! QueryMetric reads whole UTC days from the daily rollups and partial days
//! from raw observations, aggregates each series per bucket in SQL, and
//! combines series and formula terms with the pure rules of
//! [`super::aggregate`], so the answer is the same whichever source served a
//! day.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use super::aggregate::{self, Interval, Partial};
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
    // Rows come series by series, in list order, each series' rows read
    // through the (series, time) index with a limit: a page reads about
    // `page_size` rows however many match. Sorting the organisation-wide
    // series as the nil UUID puts it first and keeps the keyset comparison a
    // plain row comparison (served by `series_list_order_idx`).
    let (time_conditions, series_conditions) = list
        .conditions
        .partition(|column| column == "o.observed_at");
    let mut query: QueryBuilder<Postgres> = QueryBuilder::new(
        "select s.metric_key, s.account_id, o.observed_at, o.value,
                (select name from observation_source src where src.source_id = o.source_id) as source,
                o.recorded_at
         from (select s.series_id, s.metric_key, s.account_id from series s where true",
    );
    series_conditions.push_to(&mut query);
    if let Some((metric_key, account, _)) = &list.after {
        query
            .push(" and (s.metric_key, coalesce(s.account_id, '00000000-0000-0000-0000-000000000000'::uuid)) >= (")
            .push_bind(metric_key.clone())
            .push(", ")
            .push_bind(*account)
            .push(")");
    }
    query.push(
        " order by s.metric_key, coalesce(s.account_id, '00000000-0000-0000-0000-000000000000'::uuid)) s
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
            .push(" and o.observed_at > case when (s.metric_key, coalesce(s.account_id, '00000000-0000-0000-0000-000000000000'::uuid)) = (")
            .push_bind(metric_key.clone())
            .push(", ")
            .push_bind(*account)
            .push(") then ")
            .push_bind(observed_at)
            .push(" else '-infinity'::timestamptz end");
    }
    // No outer `order by`: the nested loop yields the series in order and
    // each series' rows in order, and sorting the join would read it whole.
    query
        .push(" order by o.observed_at limit ")
        .push_bind(list.fetch_limit())
        .push(") o limit ")
        .push_bind(list.fetch_limit());
    let rows: Vec<ObservationListRow> = query.build_query_as().fetch_all(&mut *conn).await?;
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
    buckets: Vec<aggregate::Bucket>,
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
        aggregate::buckets(start, end, interval).unwrap_or_else(|limit| {
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

/// The series id → metric key of the series a query reads.
async fn selected_series(
    conn: &mut PgConnection,
    metric_keys: &[&str],
    selection: &AccountSelection,
) -> Result<HashMap<i64, String>, ApiError> {
    let (all, accounts, organisation) = match selection {
        AccountSelection::All => (true, Vec::new(), true),
        AccountSelection::Some {
            accounts,
            organisation,
        } => (false, accounts.clone(), *organisation),
    };
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "select series_id, metric_key from series
         where metric_key = any($1)
           and ($2 or account_id = any($3) or ($4 and account_id is null))",
    )
    .bind(metric_keys)
    .bind(all)
    .bind(&accounts)
    .bind(organisation)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().collect())
}

#[derive(sqlx::FromRow)]
struct PartialRow {
    bucket: i32,
    series_id: i64,
    value_sum: f64,
    value_count: i64,
    value_min: f64,
    value_max: f64,
    last_value: f64,
    last_observed_at: DateTime<Utc>,
}

/// The partial aggregates of a query: its rollup days as they are (one row
/// per series and day; merging them per bucket is cheaper here than grouping
/// in SQL), and the (at most two) raw ranges of the plan grouped per bucket
/// and series; an unused range is empty. Bucket numbers come from
/// `width_bucket` over the bucket starts. The raw ranges are plain
/// parameters so the (series, time) index and partition pruning apply.
const PARTIALS: &str = "
select (width_bucket(d.day::timestamp at time zone 'UTC', $2::timestamptz[]) - 1)::int4 as bucket,
       d.series_id, d.value_sum, d.value_count, d.value_min, d.value_max, d.last_value, d.last_observed_at
from observation_daily d
where d.series_id = any($1) and d.day >= $3 and d.day < $4
union all
select (width_bucket(o.observed_at, $2::timestamptz[]) - 1)::int4, o.series_id,
       sum(o.value), count(*), min(o.value), max(o.value),
       (array_agg(o.value order by o.observed_at desc))[1], max(o.observed_at)
from observation o
where o.series_id = any($1)
  and ((o.observed_at >= $5 and o.observed_at < $6) or (o.observed_at >= $7 and o.observed_at < $8))
group by 1, 2";

/// QueryMetric.
pub async fn query_metric(
    conn: &mut PgConnection,
    request: pb::QueryMetricRequest,
) -> Result<pb::QueryMetricResponse, ApiError> {
    let query = parse_query(&request)?;
    let catalog = catalog::load_all(conn).await?;
    let metric = catalog
        .get(&query.metric_key)
        .ok_or_else(|| ApiError::NotFound {
            kind: ResourceKind::Metric,
            name: format!("metrics/{}", query.metric_key),
        })?;
    if let AccountSelection::Some { accounts, .. } = &query.selection {
        let missing: HashSet<Uuid> = accounts::repo::missing(&mut *conn, accounts)
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
    let series = selected_series(conn, &base_keys, &query.selection).await?;
    let values = if series.is_empty() {
        vec![None; query.buckets.len()]
    } else {
        let partials = read_partials(conn, &query, &series).await?;
        bucket_values(&query, &computation, &series, &partials, |key| {
            catalog
                .get(key)
                .and_then(|record| match record.computation() {
                    Ok(Computation::Base(aggregation)) => Some(aggregation),
                    _ => None,
                })
        })
    };
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

/// Each (bucket, series) with observations, merged across rollup and raw parts.
async fn read_partials(
    conn: &mut PgConnection,
    query: &ValidQuery,
    series: &HashMap<i64, String>,
) -> Result<FxHashMap<(usize, i64), Partial>, ApiError> {
    let plan = aggregate::read_plan(query.start, query.end, query.interval);
    // No whole day: an empty day range (within PostgreSQL's date range).
    let epoch = DateTime::UNIX_EPOCH.date_naive();
    let (first_day, after_last_day) = plan.rollup_days.unwrap_or((epoch, epoch));
    let series_ids: Vec<i64> = series.keys().copied().collect();
    let bucket_starts: Vec<DateTime<Utc>> =
        query.buckets.iter().map(|bucket| bucket.start).collect();
    let empty = aggregate::Bucket {
        start: query.start,
        end: query.start,
    };
    let leading = plan.raw_ranges.first().copied().unwrap_or(empty);
    let trailing = plan.raw_ranges.get(1).copied().unwrap_or(empty);
    let rows: Vec<PartialRow> = sqlx::query_as(PARTIALS)
        .bind(&series_ids)
        .bind(&bucket_starts)
        .bind(first_day)
        .bind(after_last_day)
        .bind(leading.start)
        .bind(leading.end)
        .bind(trailing.start)
        .bind(trailing.end)
        .fetch_all(&mut *conn)
        .await?;
    let mut partials: FxHashMap<(usize, i64), Partial> = FxHashMap::default();
    for row in rows {
        let Ok(bucket) = usize::try_from(row.bucket) else {
            continue;
        };
        let partial = Partial {
            sum: row.value_sum,
            count: row.value_count,
            min: row.value_min,
            max: row.value_max,
            last_value: row.last_value,
            last_at: row.last_observed_at,
        };
        partials
            .entry((bucket, row.series_id))
            .and_modify(|existing| *existing = existing.merge(partial))
            .or_insert(partial);
    }
    Ok(partials)
}

/// The metric's value in each bucket.
fn bucket_values(
    query: &ValidQuery,
    computation: &Computation,
    series: &HashMap<i64, String>,
    partials: &FxHashMap<(usize, i64), Partial>,
    aggregation_of: impl Fn(&str) -> Option<aggregate::Aggregation>,
) -> Vec<Option<f64>> {
    let mut by_bucket_and_metric: FxHashMap<(usize, &str), Vec<&Partial>> = FxHashMap::default();
    for ((bucket, series_id), partial) in partials {
        if let Some(metric_key) = series.get(series_id) {
            by_bucket_and_metric
                .entry((*bucket, metric_key.as_str()))
                .or_default()
                .push(partial);
        }
    }
    let base_value = |bucket: usize, key: &str| -> Option<f64> {
        let aggregation = aggregation_of(key)?;
        aggregate::aggregate(
            aggregation,
            by_bucket_and_metric.get(&(bucket, key))?.iter().copied(),
        )
    };
    (0..query.buckets.len())
        .map(|bucket| match computation {
            Computation::Base(_) => base_value(bucket, &query.metric_key),
            Computation::Derived(formula) => formula.evaluate(|key| base_value(bucket, key)),
        })
        .collect()
}
