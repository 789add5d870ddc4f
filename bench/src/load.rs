//! The data set's way into the service: the accounts and metrics it is
//! observed on, created and chosen through the API, and the timed load of
//! its rows through one `StreamObservations` call.
//!
//! The client sends protobuf chunks encoded before its clock starts (about
//! 85 bytes a row held in the client's memory): generating and encoding
//! rows is the work of the systems that call goalpost, on their own
//! machines.

use std::sync::{Arc, OnceLock};

use bytes::{BufMut, Bytes};
use goalpost::pb;
use goalpost::pb::account::Network;
use goalpost::pb::audit_service_client::AuditServiceClient;
use goalpost::pb::metric_service_client::MetricServiceClient;
use http::uri::PathAndQuery;
use prost::Message;
use sqlx::PgConnection;
use tokio::time::Instant;
use tokio_stream::StreamExt;
use tonic::codec::{Codec, EncodeBuf, Encoder};
use tonic::transport::Channel;
use tonic_prost::ProstDecoder;

use crate::DataArgs;
use crate::database::checkpoint;
use crate::dataset::{Plan, Rows, timestamp};
use crate::error::{Context, Result};
use crate::harness::Harness;
use crate::report::thousands;
use crate::service::MAX_MESSAGE_BYTES;

/// The `source` of every benchmark observation.
const SOURCE: &str = "bench";
/// The networks accounts rotate through, so they look like a real inventory.
const NETWORKS: [Network; 11] = [
    Network::Facebook,
    Network::Instagram,
    Network::X,
    Network::Linkedin,
    Network::Tiktok,
    Network::Youtube,
    Network::Pinterest,
    Network::Snapchat,
    Network::Threads,
    Network::Reddit,
    Network::Other,
];

/// The data set as loaded into the service.
pub struct Loaded {
    /// What was loaded.
    pub plan: Arc<Plan>,
    /// The accounts' resource names, in plan order.
    pub account_names: Vec<String>,
    /// The observed metrics' definitions, in plan order.
    pub chosen: Vec<pb::MetricDefinition>,
    /// How the load went.
    pub load: StreamLoad,
}

/// Creates `--accounts` accounts, picks the first `--metrics` base metrics
/// of the catalog (by key), encodes the plan's rows as StreamObservations
/// chunks in memory (not timed), loads them as one client stream from a
/// clean checkpoint, and checks with SQL that every row is stored.
pub async fn load_dataset(
    harness: &Harness<'_>,
    args: &DataArgs,
    db: &mut PgConnection,
) -> Result<Loaded> {
    let channel = &harness.service.channel;
    let mut audits = AuditServiceClient::new(channel.clone());
    let mut metrics = MetricServiceClient::new(channel.clone())
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
        .max_decoding_message_size(MAX_MESSAGE_BYTES);

    let accounts = usize::try_from(args.accounts).context("--accounts")?;
    let metric_count = usize::try_from(args.metrics).context("--metrics")?;
    progress!("creating {accounts} accounts");
    let account_names = create_accounts(&mut audits, accounts).await?;
    let base = list_definitions(&mut metrics, "kind = BASE").await?;
    if base.len() < metric_count {
        return Err(format!(
            "--metrics {metric_count} asks for more base metrics than the catalog has ({})",
            base.len()
        )
        .into());
    }
    let chosen: Vec<pb::MetricDefinition> = base.into_iter().take(metric_count).collect();
    let plan = Arc::new(Plan::new(
        accounts,
        &chosen,
        args.rows,
        chrono::Utc::now().timestamp_micros(),
    )?);
    let rows = plan.row_count();

    let chunk_size = usize::try_from(args.chunk_size).context("--chunk-size")?;
    progress!(
        "encoding {} rows as StreamObservations chunks of {chunk_size}",
        thousands(rows)
    );
    let chunks = encode_chunks(&plan, &account_names, chunk_size);
    let encoded_bytes: usize = chunks.iter().map(Bytes::len).sum();
    progress!("encoded {} MiB", encoded_bytes / (1024 * 1024));
    // Each timed load starts from a clean checkpoint, so neither pays for
    // flushing the other's dirty pages.
    checkpoint(db).await;
    progress!("loading them through StreamObservations");
    let load = stream_load(channel.clone(), chunks, rows).await?;
    let stored: i64 = sqlx::query_scalar("select count(*) from observation")
        .fetch_one(&mut *db)
        .await
        .context("count the rows of observation")?;
    if u64::try_from(stored).ok() != Some(rows) {
        return Err(
            format!("observation holds {stored} rows after the load, expected {rows}").into(),
        );
    }
    Ok(Loaded {
        plan,
        account_names,
        chosen,
        load,
    })
}

/// Creates `count` accounts named `bench-{i}` on rotating networks and
/// returns their resource names, in order.
pub async fn create_accounts(
    audits: &mut AuditServiceClient<Channel>,
    count: usize,
) -> Result<Vec<String>> {
    create_accounts_named(audits, "bench", count).await
}

/// Creates `count` accounts named `{prefix}-{i}` on rotating networks and
/// returns their resource names, in order.
pub async fn create_accounts_named(
    audits: &mut AuditServiceClient<Channel>,
    prefix: &str,
    count: usize,
) -> Result<Vec<String>> {
    let mut names = Vec::with_capacity(count);
    for i in 0..count {
        let account = audits
            .create_account(pb::CreateAccountRequest {
                account: Some(pb::Account {
                    network: NETWORKS[i % NETWORKS.len()] as i32,
                    handle: format!("{prefix}-{i}"),
                    owner: "benchmark".into(),
                    purpose: "ingest benchmark".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .with_context(|| format!("CreateAccount {prefix}-{i}"))?
            .into_inner();
        names.push(account.name);
    }
    Ok(names)
}

/// Every metric definition matching `filter`, ordered by key, following the
/// pages.
pub async fn list_definitions(
    metrics: &mut MetricServiceClient<Channel>,
    filter: &str,
) -> Result<Vec<pb::MetricDefinition>> {
    let mut definitions = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = metrics
            .list_metric_definitions(pb::ListMetricDefinitionsRequest {
                page_size: 1000,
                page_token,
                filter: filter.to_owned(),
            })
            .await
            .with_context(|| format!("ListMetricDefinitions with filter `{filter}`"))?
            .into_inner();
        definitions.extend(page.metric_definitions);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    // The API orders by key already; sorting again keeps the choice of
    // metrics stable even if that ever changed.
    definitions.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(definitions)
}

/// What the goalpost load measured.
pub struct StreamLoad {
    /// Seconds from the first chunk sent to the acknowledgement.
    pub seconds: f64,
    /// Chunks the service reported.
    pub chunks: i64,
}

/// Encodes every row of `plan` as StreamObservations chunks, before any
/// clock starts: the goalpost client then sends ready-made messages, as psql
/// reads a ready-made COPY file, so both rates measure loading, not the
/// generating and encoding of rows that a real client does on its own
/// machine.
fn encode_chunks(plan: &Arc<Plan>, account_names: &[String], chunk_size: usize) -> Vec<Bytes> {
    let mut rows = Rows::new(Arc::clone(plan));
    let mut chunks = Vec::new();
    loop {
        let observations: Vec<pb::Observation> = rows
            .by_ref()
            .take(chunk_size)
            .map(|row| pb::Observation {
                metric_key: plan.metrics[row.metric].key.clone(),
                account: account_names[row.account].clone(),
                observed_at: Some(timestamp(row.observed_at)),
                value: row.value,
                source: SOURCE.to_owned(),
                recorded_at: None,
                recorded_by: String::new(),
            })
            .collect();
        if observations.is_empty() {
            return chunks;
        }
        chunks.push(
            pb::StreamObservationsRequest { observations }
                .encode_to_vec()
                .into(),
        );
    }
}

/// A codec whose messages are already encoded StreamObservationsRequest
/// chunks; the response is decoded by prost as usual.
#[derive(Debug, Default)]
struct PreEncodedCodec;

/// Writes a pre-encoded message as it is.
#[derive(Debug, Default)]
struct PreEncodedEncoder;

impl Encoder for PreEncodedEncoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Bytes,
        buf: &mut EncodeBuf<'_>,
    ) -> std::result::Result<(), tonic::Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl Codec for PreEncodedCodec {
    type Encode = Bytes;
    type Decode = pb::StreamObservationsResponse;
    type Encoder = PreEncodedEncoder;
    type Decoder = ProstDecoder<pb::StreamObservationsResponse>;

    fn encoder(&mut self) -> Self::Encoder {
        PreEncodedEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder::default()
    }
}

/// Sends pre-encoded chunks as one StreamObservations call and times it,
/// from the first chunk taken for sending to the acknowledgement (when the
/// service has committed them).
async fn stream_load(channel: Channel, chunks: Vec<Bytes>, expected: u64) -> Result<StreamLoad> {
    let mut grpc = tonic::client::Grpc::new(channel)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
        .max_decoding_message_size(MAX_MESSAGE_BYTES);
    grpc.ready()
        .await
        .map_err(|e| format!("connect to the service: {e}"))?;
    // The clock starts when tonic takes the first chunk to send it, not when
    // the call is made, so connection set-up does not count.
    let first_sent: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
    let marker = Arc::clone(&first_sent);
    let stream = tokio_stream::iter(chunks).map(move |chunk| {
        marker.get_or_init(Instant::now);
        chunk
    });
    let response = grpc
        .client_streaming(
            tonic::Request::new(stream),
            PathAndQuery::from_static("/goalpost.v1.MetricService/StreamObservations"),
            PreEncodedCodec,
        )
        .await;
    let acknowledged = Instant::now();
    let response = response.context("StreamObservations")?.into_inner();
    let started = first_sent
        .get()
        .copied()
        .ok_or("StreamObservations answered before any chunk was sent")?;
    if u64::try_from(response.observation_count).ok() != Some(expected) {
        return Err(format!(
            "StreamObservations stored {} observations, expected {expected}",
            response.observation_count
        )
        .into());
    }
    Ok(StreamLoad {
        seconds: (acknowledged - started).as_secs_f64(),
        chunks: response.chunk_count,
    })
}
