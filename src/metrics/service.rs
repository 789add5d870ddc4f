//! `MetricService`: the catalog, observation writes and streams, listing and
//! queries.

use std::sync::LazyLock;

use chrono::Utc;
use sqlx::PgPool;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status, Streaming};

use super::catalog;
use super::ingest::{self, BATCH_ROWS, Loader, Resolver, StagedRow};
use super::model::{NewMetric, parse_metric_name};
use super::query;
use crate::api::body::RequestBodyOutcome;
use crate::api::filter::{FieldKind, FilterField};
use crate::api::list::ListRequest;
use crate::api::{detached, idempotency};
use crate::error::{ApiError, ResourceKind, Violations};
use crate::pb;
use crate::pb::metric_definition::Kind;

/// The gRPC `MetricService`.
#[derive(Debug, Clone)]
pub struct MetricApi {
    pool: PgPool,
}

impl MetricApi {
    /// The service over a database pool.
    pub fn new(pool: PgPool) -> Self {
        MetricApi { pool }
    }
}

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

async fn list_definitions(
    pool: &PgPool,
    request: pb::ListMetricDefinitionsRequest,
) -> Result<pb::ListMetricDefinitionsResponse, ApiError> {
    let pb::ListMetricDefinitionsRequest {
        page_size,
        page_token,
        filter,
    } = request;
    let list: ListRequest<String> =
        ListRequest::parse(page_size, &page_token, filter, &DEFINITION_FILTER_FIELDS)?;
    let mut conn = pool.acquire().await?;
    let records = catalog::list(
        &mut conn,
        &list.conditions,
        list.after.clone(),
        list.fetch_limit(),
    )
    .await?;
    let (records, next_page_token) =
        list.into_page(records, |record| record.row.metric_key.clone());
    Ok(pb::ListMetricDefinitionsResponse {
        metric_definitions: records
            .into_iter()
            .map(pb::MetricDefinition::try_from)
            .collect::<Result<_, _>>()?,
        next_page_token,
    })
}

async fn get_definition(
    pool: &PgPool,
    request: pb::GetMetricDefinitionRequest,
) -> Result<pb::MetricDefinition, ApiError> {
    let pb::GetMetricDefinitionRequest { name } = request;
    let key = parse_metric_name("name", &name)?;
    catalog::get(&mut *pool.acquire().await?, &key)
        .await?
        .ok_or(ApiError::NotFound {
            kind: ResourceKind::Metric,
            name,
        })?
        .try_into()
}

async fn create_definition(
    pool: &PgPool,
    request: pb::CreateMetricDefinitionRequest,
) -> Result<pb::MetricDefinition, ApiError> {
    let mut violations = Violations::default();
    let request_id = idempotency::parse_request_id(&mut violations, &request.request_id);
    violations.finish(())?;
    let known = catalog::load_all(&mut *pool.acquire().await?).await?;
    let metric = NewMetric::parse(request.metric_definition.as_ref(), &known)?;
    idempotency::once(
        pool,
        request_id,
        "CreateMetricDefinition",
        &request,
        async |tx| {
            catalog::insert(tx, &metric).await?;
            catalog::get(tx, &metric.key)
                .await?
                .ok_or_else(|| ApiError::internal("a metric just created is missing"))?
                .try_into()
        },
    )
    .await
}

async fn write_observations(
    pool: &PgPool,
    request: pb::WriteObservationsRequest,
) -> Result<pb::WriteObservationsResponse, ApiError> {
    let pb::WriteObservationsRequest { observations } = request;
    ingest::check_batch_size(observations.len())?;
    let mut resolver = Resolver::new(pool).await?;
    let staged = resolver.resolve(&observations, Utc::now()).await?;
    let mut tx = pool.begin().await?;
    let written = ingest::write_in(&mut tx, staged).await?;
    tx.commit().await?;
    Ok(pb::WriteObservationsResponse {
        observation_count: written,
    })
}

/// INVALID_ARGUMENT for a bad chunk of a stream, naming the chunk.
fn in_chunk(error: ApiError, chunk: usize) -> ApiError {
    match error {
        ApiError::InvalidArgument(violations) => ApiError::InvalidChunk { chunk, violations },
        other => other,
    }
}

/// How many full batches may wait between the reader and the loader of a
/// stream. One is enough: the reader fills the next batch while the loader
/// COPYs the current one, so PostgreSQL never waits for a batch to fill, and
/// memory stays at a few batches however long the stream.
const STREAM_PIPELINE_DEPTH: usize = 1;

/// Reads, validates and resolves the chunks of a stream, handing them to the
/// loader a full batch at a time; returns (chunks, observations) received.
async fn read_stream(
    pool: PgPool,
    mut stream: Streaming<pb::StreamObservationsRequest>,
    loader: mpsc::Sender<Vec<StagedRow>>,
) -> Result<(i64, usize), ApiError> {
    let mut resolver = Resolver::new(&pool).await?;
    let mut chunks: i64 = 0;
    let mut received = 0_usize;
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    while let Some(chunk) = stream.message().await.map_err(ApiError::StreamBroken)? {
        let index = usize::try_from(chunks).unwrap_or(usize::MAX);
        chunks += 1;
        if chunk.observations.is_empty() {
            continue;
        }
        ingest::check_batch_size(chunk.observations.len()).map_err(|e| in_chunk(e, index))?;
        let staged = resolver
            .resolve(&chunk.observations, Utc::now())
            .await
            .map_err(|e| in_chunk(e, index))?;
        received += staged.len();
        batch.extend_from_slice(&staged);
        if batch.len() >= BATCH_ROWS {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_ROWS));
            if loader.send(full).await.is_err() {
                // The loader failed; its error is the one to report.
                return Ok((chunks, received));
            }
        }
    }
    if !batch.is_empty() {
        // A failed loader reports its own error.
        let _ = loader.send(batch).await;
    }
    Ok((chunks, received))
}

async fn stream_observations(
    pool: PgPool,
    stream: Streaming<pb::StreamObservationsRequest>,
    body: RequestBodyOutcome,
) -> Result<pb::StreamObservationsResponse, ApiError> {
    // Decoding and validating (the reader task) overlaps with loading
    // (PostgreSQL's work, awaited here).
    let (to_loader, mut from_reader) = mpsc::channel(STREAM_PIPELINE_DEPTH);
    let reader = tokio::spawn(read_stream(pool.clone(), stream, to_loader));
    let mut tx = pool.begin().await?;
    let mut loader = Loader::new(&mut tx);
    let loaded = async {
        while let Some(batch) = from_reader.recv().await {
            loader.load(batch).await?;
        }
        Ok::<(), ApiError>(())
    }
    .await;
    if let Err(error) = loaded {
        reader.abort();
        return Err(error);
    }
    // Any error leaves the transaction to roll back when it is dropped.
    let (chunks, received) = reader.await.map_err(ApiError::internal)??;
    // tonic ends a cancelled stream as if it had ended normally.
    if body.broke_off() {
        return Err(ApiError::StreamBroken(Status::cancelled(
            "the client cancelled the stream",
        )));
    }
    if received == 0 {
        return Err(ApiError::invalid_field(
            "observations",
            "the stream carried no observations",
        ));
    }
    let written = loader.finish().await?;
    tx.commit().await?;
    Ok(pb::StreamObservationsResponse {
        observation_count: written,
        chunk_count: chunks,
    })
}

#[tonic::async_trait]
impl pb::metric_service_server::MetricService for MetricApi {
    async fn list_metric_definitions(
        &self,
        request: Request<pb::ListMetricDefinitionsRequest>,
    ) -> Result<Response<pb::ListMetricDefinitionsResponse>, Status> {
        Ok(Response::new(
            list_definitions(&self.pool, request.into_inner()).await?,
        ))
    }

    async fn get_metric_definition(
        &self,
        request: Request<pb::GetMetricDefinitionRequest>,
    ) -> Result<Response<pb::MetricDefinition>, Status> {
        Ok(Response::new(
            get_definition(&self.pool, request.into_inner()).await?,
        ))
    }

    async fn create_metric_definition(
        &self,
        request: Request<pb::CreateMetricDefinitionRequest>,
    ) -> Result<Response<pb::MetricDefinition>, Status> {
        Ok(Response::new(
            create_definition(&self.pool, request.into_inner()).await?,
        ))
    }

    async fn write_observations(
        &self,
        request: Request<pb::WriteObservationsRequest>,
    ) -> Result<Response<pb::WriteObservationsResponse>, Status> {
        let pool = self.pool.clone();
        let request = request.into_inner();
        Ok(Response::new(
            detached(async move { write_observations(&pool, request).await }).await?,
        ))
    }

    async fn stream_observations(
        &self,
        request: Request<Streaming<pb::StreamObservationsRequest>>,
    ) -> Result<Response<pb::StreamObservationsResponse>, Status> {
        let pool = self.pool.clone();
        // Without the layer (a server built elsewhere) nothing is known to
        // have broken off.
        let body = request
            .extensions()
            .get::<RequestBodyOutcome>()
            .cloned()
            .unwrap_or_default();
        let stream = request.into_inner();
        Ok(Response::new(
            detached(stream_observations(pool, stream, body)).await?,
        ))
    }

    async fn list_observations(
        &self,
        request: Request<pb::ListObservationsRequest>,
    ) -> Result<Response<pb::ListObservationsResponse>, Status> {
        let mut conn = self.pool.acquire().await.map_err(ApiError::from)?;
        Ok(Response::new(
            query::list_observations(&mut conn, request.into_inner()).await?,
        ))
    }

    async fn query_metric(
        &self,
        request: Request<pb::QueryMetricRequest>,
    ) -> Result<Response<pb::QueryMetricResponse>, Status> {
        let mut conn = self.pool.acquire().await.map_err(ApiError::from)?;
        Ok(Response::new(
            query::query_metric(&mut conn, request.into_inner()).await?,
        ))
    }
}
