//! Ingestion as real users drive it: correcting a backfill they already
//! sent, retrying it, and sending messages the server cannot read.

use bytes::{Buf, BufMut};
use chrono::TimeDelta;
use goalpost::pb;
use goalpost::pb::Interval;
use goalpost::pb::account::Network;
use prost::Message;
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use crate::helpers::{TestApp, assert_error, spawn_app};
use crate::metrics::metric_client;
use crate::observations::{
    assert_rollups_match_observations, chunk_index, obs, query, stored, stream, t, write,
};

/// The sum and count of every stored value of `metric`.
async fn stored_sum_and_count(app: &TestApp, metric: &str) -> (f64, i64) {
    sqlx::query_as(
        "select coalesce(sum(o.value), 0), count(*) from observation o
         join series s using (series_id) where s.metric_key = $1",
    )
    .bind(metric)
    .fetch_one(&app.pool)
    .await
    .expect("sum stored values")
}

#[tokio::test]
async fn re_streaming_a_corrected_backfill_replaces_every_value() {
    // 60,000 rows of one day in chunks of 10,000: two batches of the load
    // replace values of the same day, which once failed the whole stream.
    let app = spawn_app().await;
    let account = app.create_account(Network::Instagram, "fixed").await.name;
    let day = t("2026-05-04T00:00:00Z");
    let backfill = |value_of: fn(i64) -> f64| -> Vec<Vec<pb::Observation>> {
        let rows: Vec<pb::Observation> = (0..60_000_i64)
            .map(|i| obs("likes", &account, day + TimeDelta::seconds(i), value_of(i)))
            .collect();
        rows.chunks(10_000).map(<[_]>::to_vec).collect()
    };
    let first = stream(&app, backfill(|i| (i % 7) as f64)).await.unwrap();
    assert_eq!(first.observation_count, 60_000);

    let corrected_value = |i: i64| (i % 11) as f64 + 0.5;
    let expected_sum: f64 = (0..60_000).map(corrected_value).sum();
    for attempt in ["the correction", "its retry"] {
        let response = stream(&app, backfill(corrected_value))
            .await
            .unwrap_or_else(|status| panic!("{attempt} failed: {status:?}"));
        assert_eq!(response.observation_count, 60_000, "{attempt}");
        assert_eq!(
            stored_sum_and_count(&app, "likes").await,
            (expected_sum, 60_000),
            "{attempt} replaced every value"
        );
        assert_rollups_match_observations(&app).await;
    }
    let daily = query(
        &app,
        "likes",
        &[],
        day,
        day + TimeDelta::days(1),
        Interval::Day,
    )
    .await;
    assert_eq!(daily[0].value, Some(expected_sum));
    // A mid-day window reads raw rows: every one of them is the corrected one.
    let morning = query(
        &app,
        "likes",
        &[],
        day,
        day + TimeDelta::hours(6),
        Interval::Unspecified,
    )
    .await;
    let morning_sum: f64 = (0..6 * 3600).map(corrected_value).sum();
    assert_eq!(morning[0].value, Some(morning_sum));
}

#[tokio::test]
async fn correcting_part_of_a_streamed_day_with_batches_keeps_rollups_exact() {
    let app = spawn_app().await;
    let account = app.create_account(Network::Tiktok, "partly").await.name;
    let day = t("2026-05-05T00:00:00Z");
    let rows: Vec<pb::Observation> = (0..30_000_i64)
        .map(|i| obs("likes", &account, day + TimeDelta::seconds(i), 1.0))
        .collect();
    stream(&app, rows.chunks(10_000).map(<[_]>::to_vec).collect())
        .await
        .unwrap();
    // Replace every tenth row, lowering the maximum and moving nothing else,
    // then a row after the last one, twice (a replayed batch).
    let corrections: Vec<pb::Observation> = (0..30_000_i64)
        .step_by(10)
        .map(|i| obs("likes", &account, day + TimeDelta::seconds(i), 0.25))
        .collect();
    for batch in corrections.chunks(1_000) {
        write(&app, batch.to_vec()).await.unwrap();
    }
    let later = vec![obs("likes", &account, day + TimeDelta::hours(20), 7.0)];
    write(&app, later.clone()).await.unwrap();
    write(&app, later).await.unwrap();
    assert_rollups_match_observations(&app).await;
    assert_eq!(
        stored_sum_and_count(&app, "likes").await,
        (27_000.0 + 3_000.0 * 0.25 + 7.0, 30_001)
    );
}

/// A codec that sends bytes as they are, to put messages on the wire that
/// no protobuf encoder would write.
#[derive(Debug, Clone, Copy, Default)]
struct RawBytes;

impl Encoder for RawBytes {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawBytes {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        Ok(Some(bytes.to_vec()))
    }
}

impl Codec for RawBytes {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawBytes;
    type Decoder = RawBytes;

    fn encoder(&mut self) -> RawBytes {
        RawBytes
    }

    fn decoder(&mut self) -> RawBytes {
        RawBytes
    }
}

/// Sends `messages` as StreamObservations chunks, byte for byte.
async fn stream_raw(app: &TestApp, messages: Vec<Vec<u8>>) -> Result<Vec<u8>, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(app.channel.clone());
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let path =
        http::uri::PathAndQuery::from_static("/goalpost.v1.MetricService/StreamObservations");
    grpc.client_streaming(
        tonic::Request::new(tokio_stream::iter(messages)),
        path,
        RawBytes,
    )
    .await
    .map(|response| response.into_inner())
}

#[tokio::test]
async fn unreadable_stream_chunks_are_bad_input_not_a_broken_stream() {
    let app = spawn_app().await;
    let account = app.create_account(Network::Reddit, "raw").await.name;
    let good = pb::StreamObservationsRequest {
        observations: vec![obs("likes", &account, t("2026-05-06T10:00:00Z"), 3.0)],
    }
    .encode_to_vec();
    let before = stored(&app).await;

    // A length prefix promising more bytes than the message holds.
    let malformed = vec![0x0a, 0x40, 0x0a, 0x05, b'l'];
    let status = stream_raw(&app, vec![good.clone(), malformed])
        .await
        .unwrap_err();
    assert_error(&status, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(chunk_index(&status).as_deref(), Some("1"), "{status:?}");

    // A chunk over the 16 MiB a message may hold.
    let huge = pb::StreamObservationsRequest {
        observations: vec![pb::Observation {
            metric_key: "x".repeat(17 * 1024 * 1024),
            ..Default::default()
        }],
    }
    .encode_to_vec();
    let status = stream_raw(&app, vec![good.clone(), huge])
        .await
        .unwrap_err();
    assert_error(&status, Code::ResourceExhausted, "MESSAGE_TOO_LARGE");
    assert!(status.message().contains("chunk 1"), "{status:?}");

    assert_eq!(stored(&app).await, before, "neither stream stored anything");
    // The same good chunk alone goes through: nothing was left behind.
    stream_raw(&app, vec![good]).await.unwrap();
    let response = metric_client(&app)
        .list_observations(pb::ListObservationsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.observations.len(), 1);
}

#[tokio::test]
async fn ten_thousand_bad_rows_get_a_bounded_error_that_breaks_no_other_call() {
    // Every row names a missing metric with a long key: listing them all
    // would make a status of megabytes, which clients refuse by dropping the
    // connection and every call on it.
    let app = spawn_app().await;
    let account = app.create_account(Network::Other, "bounded").await.name;
    let long_key = "k".repeat(1_000);
    let bad: Vec<pb::Observation> = (0..10_000_i64)
        .map(|i| {
            obs(
                &long_key,
                &account,
                t("2026-05-07T00:00:00Z") + TimeDelta::seconds(i),
                1.0,
            )
        })
        .collect();
    let good = obs("likes", &account, t("2026-05-07T12:00:00Z"), 4.0);
    let (rejected, accepted) = tokio::join!(write(&app, bad), async {
        // Another call on the same connection, sent while the big error is.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        write(&app, vec![good.clone()]).await
    });
    let status = rejected.unwrap_err();
    assert_error(&status, Code::InvalidArgument, "INVALID_ARGUMENT");
    let details = tonic_types::StatusExt::get_error_details(&status);
    let listed = &details
        .bad_request()
        .expect("a BadRequest")
        .field_violations;
    assert_eq!(listed.len(), 20, "the first violations are listed");
    assert_eq!(listed[0].field, "observations[0].metric_key");
    assert!(listed.iter().all(|v| v.description.chars().count() <= 300));
    assert_eq!(
        details
            .error_info()
            .unwrap()
            .metadata
            .get("violations")
            .map(String::as_str),
        Some("10000"),
        "the total is counted"
    );
    assert!(
        status.message().len() <= 4_000,
        "{}",
        status.message().len()
    );
    assert!(status.message().contains("10000 violations"));
    assert_eq!(accepted.unwrap(), 1);
    // The connection is still good for later calls.
    assert_eq!(write(&app, vec![good]).await.unwrap(), 1);
}
