//! `MetricService`: observation writes and streams, listing and queries,
//! and the catalog methods (served by [`crate::catalog::service`]).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tonic::{Code, Request, Response, Status, Streaming};

use super::ingest::{self, BATCH_ROWS, Loader, Lookup, Resolver, StagedRow};
use super::read::{ReadCaches, list, query};
use crate::api::body::RequestBodyOutcome;
use crate::api::detached;
use crate::api::pagination::PageSizes;
use crate::api::too_large::message_too_large;
use crate::auth::Caller;
use crate::auth::tokens::TokenName;
use crate::catalog;
use crate::error::ApiError;
use crate::pb;
use crate::telemetry::exporter;

/// The limits that keep StreamObservations calls from starving everything
/// else of database connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// How many streams may load at once. Each holds one pooled connection
    /// in a transaction while it loads, so this must stay below the pool
    /// size; a stream beyond it is refused at once with RESOURCE_EXHAUSTED.
    pub max_concurrent: usize,
    /// How long a stream may go without sending a chunk before it is ended
    /// with DEADLINE_EXCEEDED and rolled back: an idle client must not hold
    /// a transaction (and its connection and locks) open forever.
    pub idle_timeout: Duration,
    /// The most observations one WriteObservations call or stream chunk
    /// may hold.
    pub max_rows_per_message: usize,
    /// The largest request message, in bytes, for the error a stream's
    /// oversized chunk gets.
    pub max_message_bytes: usize,
}

/// The gRPC `MetricService`.
#[derive(Debug, Clone)]
pub struct MetricApi {
    pool: PgPool,
    stream_limits: StreamLimits,
    stream_slots: Arc<Semaphore>,
    page_sizes: PageSizes,
    read_caches: ReadCaches,
}

impl MetricApi {
    /// The service over a database pool, listing in pages of `page_sizes`,
    /// reading through `read_caches` (whose catalog the change listener
    /// must follow).
    pub fn new(
        pool: PgPool,
        stream_limits: StreamLimits,
        page_sizes: PageSizes,
        read_caches: ReadCaches,
    ) -> Self {
        MetricApi {
            pool,
            stream_limits,
            page_sizes,
            read_caches,
            stream_slots: Arc::new(Semaphore::new(stream_limits.max_concurrent)),
        }
    }

    /// A slot for one more stream, or RESOURCE_EXHAUSTED when every slot is
    /// taken: refusing at once lets the client back off, where queueing
    /// would hold its call (and its memory) for an unknown time.
    fn stream_slot(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.stream_slots.clone().try_acquire_owned().map_err(|_| {
            ApiError::ResourceExhausted {
                reason: "TOO_MANY_STREAMS",
                message: format!(
                    "{} StreamObservations calls are loading already, the most this server runs at once: retry shortly, or send WriteObservations batches",
                    self.stream_limits.max_concurrent
                ),
            }
        })
    }
}

/// WriteObservations by the caller of `token`.
async fn write_observations(
    pool: &PgPool,
    request: pb::WriteObservationsRequest,
    token: Option<TokenName>,
    max_rows: usize,
) -> Result<pb::WriteObservationsResponse, ApiError> {
    let pb::WriteObservationsRequest { observations } = request;
    ingest::check_batch_size(observations.len(), max_rows)?;
    let mut lookup = Lookup::Pool(pool.clone());
    let mut resolver = Resolver::new(&mut lookup, token).await?;
    let staged = resolver
        .resolve(&mut lookup, &observations, Utc::now())
        .await?;
    let mut tx = pool.begin().await?;
    let written = ingest::write_in(&mut tx, staged).await?;
    tx.commit().await?;
    exporter::observations_written(written);
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

/// The error for a stream whose next message could not be read.
///
/// tonic reports every failure of the request stream as a status: a broken
/// transport (the client reset the call or the connection dropped), a
/// message over the size limit (OUT_OF_RANGE), or one that does not decode
/// (INTERNAL). Only the first is the client going away; the others are bad
/// input and answered as such.
fn unreadable_chunk(
    status: Status,
    chunk: usize,
    body: &RequestBodyOutcome,
    max_message_bytes: usize,
) -> ApiError {
    if body.broke_off() {
        return ApiError::StreamBroken(status);
    }
    match status.code() {
        Code::OutOfRange | Code::ResourceExhausted => {
            message_too_large(&format!("chunk {chunk} of the stream"), max_message_bytes)
        }
        Code::Cancelled => ApiError::StreamBroken(status),
        _ => ApiError::InvalidChunk {
            chunk,
            violations: vec![crate::error::FieldViolation {
                field: "observations".into(),
                description: format!(
                    "the chunk is not a valid StreamObservationsRequest message: {}",
                    status.message()
                ),
            }],
        },
    }
}

/// Reads, validates and resolves the chunks of a stream, handing them to the
/// loader a full batch at a time; returns how many chunks it received.
/// It borrows database connections only for lookups, never while it waits
/// for the client.
async fn read_stream(
    pool: PgPool,
    mut stream: Streaming<pb::StreamObservationsRequest>,
    body: RequestBodyOutcome,
    limits: StreamLimits,
    loader: mpsc::Sender<Vec<StagedRow>>,
    token: Option<TokenName>,
) -> Result<i64, ApiError> {
    let mut lookup = Lookup::Pool(pool);
    let mut resolver = Resolver::new(&mut lookup, token).await?;
    let mut chunks: i64 = 0;
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    loop {
        let index = usize::try_from(chunks).unwrap_or(usize::MAX);
        let next = tokio::time::timeout(limits.idle_timeout, stream.message())
            .await
            .map_err(|_| ApiError::StreamIdle {
                limit: limits.idle_timeout,
            })?;
        let unreadable = |status| unreadable_chunk(status, index, &body, limits.max_message_bytes);
        let Some(chunk) = next.map_err(unreadable)? else {
            break;
        };
        chunks += 1;
        if chunk.observations.is_empty() {
            continue;
        }
        ingest::check_batch_size(chunk.observations.len(), limits.max_rows_per_message)
            .map_err(|e| in_chunk(e, index))?;
        let staged = resolver
            .resolve(&mut lookup, &chunk.observations, Utc::now())
            .await
            .map_err(|e| in_chunk(e, index))?;
        batch.extend_from_slice(&staged);
        if batch.len() >= BATCH_ROWS {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_ROWS));
            if loader.send(full).await.is_err() {
                // The loader failed; its error is the one to report.
                return Ok(chunks);
            }
        }
    }
    if !batch.is_empty() {
        // A failed loader reports its own error.
        let _ = loader.send(batch).await;
    }
    Ok(chunks)
}

/// StreamObservations by the caller of `token`.
async fn stream_observations(
    pool: PgPool,
    stream: Streaming<pb::StreamObservationsRequest>,
    body: RequestBodyOutcome,
    limits: StreamLimits,
    _slot: OwnedSemaphorePermit,
    token: Option<TokenName>,
) -> Result<pb::StreamObservationsResponse, ApiError> {
    // Decoding and validating (the reader task) overlaps with loading
    // (PostgreSQL's work, awaited here).
    let (to_loader, mut from_reader) = mpsc::channel(STREAM_PIPELINE_DEPTH);
    let reader = tokio::spawn(read_stream(
        pool.clone(),
        stream,
        body.clone(),
        limits,
        to_loader,
        token,
    ));
    // The transaction begins with the first full batch (or the end of the
    // stream): a stream that trickles in holds no connection until then.
    // Any error below leaves it to roll back when it is dropped.
    let Some(first) = from_reader.recv().await else {
        // The reader ended without a batch: its error, or an empty stream.
        reader.await.map_err(ApiError::internal)??;
        check_not_broken_off(&body)?;
        return Err(ApiError::invalid_field(
            "observations",
            "the stream carried no observations",
        ));
    };
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(error) => {
            reader.abort();
            return Err(error.into());
        }
    };
    let mut loader = Loader::new(&mut tx);
    let loaded = async {
        loader.load(first).await?;
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
    // A reader that failed (a bad chunk, an idle client) simply stopped
    // handing over batches: its error is checked before anything commits.
    let chunks = reader.await.map_err(ApiError::internal)??;
    check_not_broken_off(&body)?;
    let written = loader.finish().await?;
    tx.commit().await?;
    exporter::stream_written(written);
    Ok(pb::StreamObservationsResponse {
        observation_count: written,
        chunk_count: chunks,
    })
}

/// tonic ends a cancelled stream as if it had ended normally: this tells
/// the two apart before anything is committed.
fn check_not_broken_off(body: &RequestBodyOutcome) -> Result<(), ApiError> {
    if body.broke_off() {
        return Err(ApiError::StreamBroken(Status::cancelled(
            "the client cancelled the stream",
        )));
    }
    Ok(())
}

#[tonic::async_trait]
impl pb::metric_service_server::MetricService for MetricApi {
    async fn list_metric_definitions(
        &self,
        request: Request<pb::ListMetricDefinitionsRequest>,
    ) -> Result<Response<pb::ListMetricDefinitionsResponse>, Status> {
        Ok(Response::new(
            catalog::service::list_definitions(&self.pool, self.page_sizes, request.into_inner())
                .await?,
        ))
    }

    async fn get_metric_definition(
        &self,
        request: Request<pb::GetMetricDefinitionRequest>,
    ) -> Result<Response<pb::MetricDefinition>, Status> {
        Ok(Response::new(
            catalog::service::get_definition(&self.pool, request.into_inner()).await?,
        ))
    }

    async fn create_metric_definition(
        &self,
        request: Request<pb::CreateMetricDefinitionRequest>,
    ) -> Result<Response<pb::MetricDefinition>, Status> {
        Ok(Response::new(
            catalog::service::create_definition(&self.pool, request.into_inner()).await?,
        ))
    }

    async fn write_observations(
        &self,
        request: Request<pb::WriteObservationsRequest>,
    ) -> Result<Response<pb::WriteObservationsResponse>, Status> {
        let pool = self.pool.clone();
        let token = Caller::token_name_in(request.extensions());
        let request = request.into_inner();
        let max_rows = self.stream_limits.max_rows_per_message;
        Ok(Response::new(
            detached(async move { write_observations(&pool, request, token, max_rows).await })
                .await?,
        ))
    }

    async fn stream_observations(
        &self,
        request: Request<Streaming<pb::StreamObservationsRequest>>,
    ) -> Result<Response<pb::StreamObservationsResponse>, Status> {
        let slot = self.stream_slot()?;
        let pool = self.pool.clone();
        // Without the layer (a server built elsewhere) nothing is known to
        // have broken off.
        let body = request
            .extensions()
            .get::<RequestBodyOutcome>()
            .cloned()
            .unwrap_or_default();
        let token = Caller::token_name_in(request.extensions());
        let stream = request.into_inner();
        Ok(Response::new(
            detached(stream_observations(
                pool,
                stream,
                body,
                self.stream_limits,
                slot,
                token,
            ))
            .await?,
        ))
    }

    async fn list_observations(
        &self,
        request: Request<pb::ListObservationsRequest>,
    ) -> Result<Response<pb::ListObservationsResponse>, Status> {
        let mut conn = self.pool.acquire().await.map_err(ApiError::from)?;
        Ok(Response::new(
            list::list_observations(&mut conn, self.page_sizes, request.into_inner()).await?,
        ))
    }

    async fn query_metric(
        &self,
        request: Request<pb::QueryMetricRequest>,
    ) -> Result<Response<pb::QueryMetricResponse>, Status> {
        let mut conn = self.pool.acquire().await.map_err(ApiError::from)?;
        Ok(Response::new(
            query::query_metric(&mut conn, &self.read_caches, request.into_inner()).await?,
        ))
    }
}
