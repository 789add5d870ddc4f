//! ListObservations: observations in (metric, account, time) order, a page
//! at a time.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::api::filter::{FieldKind, FilterField};
use crate::api::list::ListRequest;
use crate::api::names::ACCOUNTS;
use crate::api::pagination::PageSizes;
use crate::api::pagination::TokenTime;
use crate::api::time;
use crate::error::ApiError;
use crate::pb;

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
/// UUID for the organisation-wide series, observed_at).
type ObservationKey = (String, Uuid, TokenTime);

#[derive(sqlx::FromRow)]
struct ObservationListRow {
    metric_key: String,
    account_id: Option<Uuid>,
    observed_at: DateTime<Utc>,
    value: f64,
    source: String,
    recorded_at: DateTime<Utc>,
    /// The token whose call wrote the value; null without one.
    recorded_by: Option<String>,
}

/// ListObservations.
pub async fn list_observations(
    conn: &mut PgConnection,
    page_sizes: PageSizes,
    request: pb::ListObservationsRequest,
) -> Result<pb::ListObservationsResponse, ApiError> {
    let pb::ListObservationsRequest {
        page_size,
        page_token,
        filter,
    } = request;
    let list: ListRequest<ObservationKey> = ListRequest::parse(
        page_sizes,
        page_size,
        &page_token,
        filter,
        &OBSERVATION_FILTER_FIELDS,
    )?;
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
                o.recorded_at,
                (select token_name from observation_source src where src.source_id = o.source_id) as recorded_by
         from series s
         cross join lateral (
             select o.observed_at, o.value, o.source_id, o.recorded_at from observation o
             where o.series_id = s.series_id",
    );
    time_conditions.push_to(&mut query);
    if let Some((metric_key, account, TokenTime(observed_at))) = &list.after {
        // Within the series the last page ended in, only later rows; a plain
        // bound on observed_at, so the index scan starts there.
        query
            .push(" and o.observed_at > case when (")
            .push(LIST_ORDER)
            .push(") = (")
            .push_bind(metric_key.clone())
            .push(", ")
            .push_bind(*account)
            .push(") then ")
            .push_bind(*observed_at)
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
            TokenTime(row.observed_at),
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
                recorded_by: row.recorded_by.unwrap_or_default(),
            })
            .collect(),
        next_page_token,
    })
}
