//! `goalpost-bench ingest`: loads the data set through StreamObservations
//! and through psql's binary `\copy`, compares the rates, then times
//! QueryMetric and ListObservations over the loaded data.

use std::time::Duration;

use goalpost::pb;
use goalpost::pb::metric_service_client::MetricServiceClient;
use sqlx::{Connection, PgConnection};
use tokio::time::Instant;
use tonic::transport::Channel;

use crate::IngestArgs;
use crate::baseline::{check_psql, copy_baseline};
use crate::database::server_version;
use crate::error::{Context, Result};
use crate::harness::{Harness, with_service};
use crate::load::load_dataset;
use crate::queries::query_latencies;
use crate::report::{Latency, print_machine, rate, thousands, verdict};
use crate::service::MAX_MESSAGE_BYTES;

/// How many observations the ListObservations step pages through.
const LIST_ROWS: u64 = 1_000_000;
/// The page size of the ListObservations step (the API's largest).
const LIST_PAGE_SIZE: i32 = 1_000;

/// Runs the whole ingest benchmark, cleaning up whatever it started even
/// when a step fails.
pub async fn ingest(args: IngestArgs) -> Result<()> {
    // Checked first: finding psql missing after minutes of loading would
    // waste the run.
    check_psql().await?;
    with_service(args.data.keep, async |harness: &Harness<'_>| {
        run(&args, harness).await
    })
    .await
}

/// The benchmark proper, against a running service.
async fn run(args: &IngestArgs, harness: &Harness<'_>) -> Result<()> {
    let mut metrics = MetricServiceClient::new(harness.service.channel.clone())
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
        .max_decoding_message_size(MAX_MESSAGE_BYTES);
    let mut db = PgConnection::connect(harness.database_url)
        .await
        .context("connect to the benchmark database")?;

    let loaded = load_dataset(harness, &args.data, &mut db).await?;
    let (plan, goalpost_load) = (&loaded.plan, &loaded.load);
    let rows = plan.row_count();
    let peak_rss_kib = harness.service.peak_rss_kib()?;

    let copy_seconds = copy_baseline(&mut db, harness.database_url, plan, harness.work_dir).await?;

    let goalpost_rate = rate(rows, goalpost_load.seconds);
    let copy_rate = rate(rows, copy_seconds);
    let ratio = goalpost_rate / copy_rate;
    let peak_rss_mib = peak_rss_kib as f64 / 1024.0;
    println!("goalpost ingest benchmark");
    print_machine(&server_version(&mut db).await?);
    println!(
        "  rows                     {} = {} accounts × {} metrics × {} points",
        thousands(rows),
        plan.accounts,
        plan.metrics.len(),
        plan.points
    );
    println!(
        "  goalpost                 {:>8.2} s  {:>10} rows/s  (StreamObservations, {} chunks of {})",
        goalpost_load.seconds,
        thousands(goalpost_rate.round() as u64),
        goalpost_load.chunks,
        args.data.chunk_size
    );
    println!(
        "  psql binary \\copy        {:>8.2} s  {:>10} rows/s  (bare table, same rows)",
        copy_seconds,
        thousands(copy_rate.round() as u64)
    );
    println!(
        "  ratio goalpost/psql      {ratio:>8.2}   (goal ≥ 0.5: {})",
        verdict(ratio >= 0.5)
    );
    println!(
        "  peak service RSS         {peak_rss_mib:>8.1} MiB (goal < 256: {})",
        verdict(peak_rss_mib < 256.0)
    );

    query_latencies(&mut metrics, &loaded.chosen, args.query_iterations, None).await?;
    list_page_times(&mut metrics, rows.min(LIST_ROWS)).await?;
    db.close()
        .await
        .context("disconnect from the benchmark database")
}

/// Pages through the first `rows` observations in list order and prints
/// the first and the last page's time, with the median and the slowest:
/// flat is the goal, each page reading about a page of rows wherever it
/// starts.
async fn list_page_times(metrics: &mut MetricServiceClient<Channel>, rows: u64) -> Result<()> {
    let pages = rows / LIST_PAGE_SIZE as u64;
    let mut times = Vec::with_capacity(usize::try_from(pages).unwrap_or(0));
    let mut page_token = String::new();
    for page in 0..pages {
        let started = Instant::now();
        let response = metrics
            .list_observations(pb::ListObservationsRequest {
                page_size: LIST_PAGE_SIZE,
                page_token: page_token.clone(),
                filter: String::new(),
            })
            .await
            .with_context(|| format!("ListObservations page {page}"))?
            .into_inner();
        times.push(started.elapsed());
        if response.observations.len() != LIST_PAGE_SIZE as usize {
            return Err(format!(
                "ListObservations page {page} held {} observations, expected {LIST_PAGE_SIZE}",
                response.observations.len()
            )
            .into());
        }
        page_token = response.next_page_token;
    }
    let ms = |duration: Option<&Duration>| duration.map_or(0.0, |d| d.as_secs_f64() * 1_000.0);
    let (first, last) = (ms(times.first()), ms(times.last()));
    let stats = Latency::of(&mut times);
    println!(
        "ListObservations, {} observations in {pages} pages of {LIST_PAGE_SIZE} (ms)",
        thousands(rows)
    );
    println!(
        "  first page {first:>7.2}  last page {last:>7.2}  p50 {:>7.2}  p99 {:>7.2}",
        stats.p50_ms, stats.p99_ms
    );
    Ok(())
}
