//! The catalog methods of `MetricService`: parse the request, call the
//! store, convert the result.

use std::sync::LazyLock;

use sqlx::PgPool;

use super::model::{NewMetric, parse_metric_name};
use super::repo;
use crate::api::filter::{FieldKind, FilterField};
use crate::api::idempotency;
use crate::api::list::ListRequest;
use crate::api::pagination::PageSizes;
use crate::error::{ApiError, ResourceKind, Violations};
use crate::pb;
use crate::pb::metric_definition::Kind;

/// The fields ListMetricDefinitions filters on.
static DEFINITION_FILTER_FIELDS: LazyLock<Vec<FilterField>> = LazyLock::new(|| {
    vec![
        FilterField {
            name: "kind",
            column: "kind",
            kind: FieldKind::enumeration::<Kind>(),
        },
        FilterField {
            name: "builtin",
            column: "builtin",
            kind: FieldKind::Bool,
        },
    ]
});

/// ListMetricDefinitions.
pub async fn list_definitions(
    pool: &PgPool,
    page_sizes: PageSizes,
    request: pb::ListMetricDefinitionsRequest,
) -> Result<pb::ListMetricDefinitionsResponse, ApiError> {
    let pb::ListMetricDefinitionsRequest {
        page_size,
        page_token,
        filter,
    } = request;
    let list: ListRequest<String> = ListRequest::parse(
        page_sizes,
        page_size,
        &page_token,
        filter,
        &DEFINITION_FILTER_FIELDS,
    )?;
    let mut conn = pool.acquire().await?;
    let records = repo::list(
        &mut conn,
        &list.conditions,
        list.after.clone(),
        list.fetch_limit(),
    )
    .await?;
    let (records, next_page_token) = list.into_page(records, |record| record.key.clone());
    Ok(pb::ListMetricDefinitionsResponse {
        metric_definitions: records
            .into_iter()
            .map(pb::MetricDefinition::from)
            .collect(),
        next_page_token,
    })
}

/// GetMetricDefinition.
pub async fn get_definition(
    pool: &PgPool,
    request: pb::GetMetricDefinitionRequest,
) -> Result<pb::MetricDefinition, ApiError> {
    let pb::GetMetricDefinitionRequest { name } = request;
    let key = parse_metric_name("name", &name)?;
    repo::get(&mut *pool.acquire().await?, &key)
        .await?
        .ok_or(ApiError::NotFound {
            kind: ResourceKind::Metric,
            name,
        })
        .map(pb::MetricDefinition::from)
}

/// CreateMetricDefinition.
pub async fn create_definition(
    pool: &PgPool,
    request: pb::CreateMetricDefinitionRequest,
) -> Result<pb::MetricDefinition, ApiError> {
    let mut violations = Violations::default();
    let request_id = idempotency::parse_request_id(&mut violations, &request.request_id);
    violations.finish(())?;
    let known = repo::load_all(&mut *pool.acquire().await?).await?;
    let metric = NewMetric::parse(request.metric_definition.as_ref(), &known)?;
    idempotency::once(
        pool,
        request_id,
        "CreateMetricDefinition",
        &request,
        async |tx| {
            repo::insert(tx, &metric).await?;
            repo::get(tx, &metric.key)
                .await?
                .map(pb::MetricDefinition::from)
                .ok_or_else(|| ApiError::internal("a metric just created is missing"))
        },
    )
    .await
}
