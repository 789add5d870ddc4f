//! Streamed writes: one transaction per stream, bad chunks, broken and empty
//! streams.

use super::*;

#[tokio::test]
async fn a_stream_is_stored_as_one_transaction_and_reports_its_counts() {
    let app = spawn_app().await;
    let a = app.create_account(Network::Linkedin, "a").await.name;
    let b = app.create_account(Network::Linkedin, "b").await.name;
    let chunks = vec![
        vec![
            obs("clicks", &a, t("2026-03-02T09:00:00Z"), 3.0),
            obs("clicks", &b, t("2026-03-02T09:30:00Z"), 4.0),
            obs("followers", "", t("2026-03-02T10:00:00Z"), 900.0),
        ],
        vec![],
        vec![
            obs("clicks", &a, t("2026-03-03T09:00:00Z"), 5.5),
            pb::Observation {
                source: "linkedin-api".into(),
                ..obs("followers", &b, t("2026-03-03T10:00:00Z"), 120.0)
            },
        ],
    ];
    let response = stream(&app, chunks.clone()).await.unwrap();
    assert_eq!(response.observation_count, 5);
    assert_eq!(response.chunk_count, 3, "empty chunks are counted");
    let rows: Vec<pb::Observation> = chunks.into_iter().flatten().collect();
    let listed = list_all(&app, "").await;
    assert_eq!(keyed(&listed), in_list_order(&rows));
    let sourced = listed
        .iter()
        .find(|row| row.metric_key == "followers" && row.account == b)
        .unwrap();
    assert_eq!(sourced.source, "linkedin-api");
    assert_rollups_match_observations(&app).await;

    // A bulk load of several full chunks.
    let start = t("2026-02-01T00:00:00Z");
    let bulk: Vec<pb::Observation> = (0..30_000)
        .map(|i| {
            let account = [a.as_str(), b.as_str(), ""][i as usize % 3];
            obs(
                "impressions",
                account,
                start + TimeDelta::minutes(i),
                (i % 11) as f64,
            )
        })
        .collect();
    let response = stream(&app, bulk.chunks(10_000).map(<[_]>::to_vec).collect())
        .await
        .unwrap();
    assert_eq!(response.observation_count, 30_000);
    assert_eq!(response.chunk_count, 3);
    assert_eq!(app.count("observation").await, 30_005);
    assert_rollups_match_observations(&app).await;
    let end = start + TimeDelta::minutes(30_000);
    let bounds: Vec<DateTime<Utc>> = (0..=21).map(|day| start + TimeDelta::days(day)).collect();
    let daily = query(&app, "impressions", &[], start, bounds[21], Interval::Day).await;
    assert_buckets(
        "bulk impressions by day",
        &daily,
        &bounds,
        |from, to| expected_base(&bulk, "impressions", Aggregation::Sum, &[], from, to),
        EXACT,
    );
    let total = query(
        &app,
        "impressions",
        &[b.as_str()],
        start,
        end,
        Interval::Unspecified,
    )
    .await;
    assert_eq!(
        values(&total),
        [expected_base(
            &bulk,
            "impressions",
            Aggregation::Sum,
            &[b.as_str()],
            start,
            end
        )]
    );
}

#[tokio::test]
async fn a_stream_with_a_bad_chunk_stores_none_of_its_chunks() {
    let app = spawn_app().await;
    let account = app.create_account(Network::Snapchat, "acme").await.name;
    let nine = t("2026-03-02T09:00:00Z");
    write(&app, vec![obs("likes", &account, nine, 10.0)])
        .await
        .unwrap();
    let before = stored(&app).await;

    let good = |minute: i64| obs("likes", &account, nine + TimeDelta::minutes(minute), 1.0);
    type Chunks = Vec<Vec<pb::Observation>>;
    let cases: Vec<(&str, Chunks, Vec<&str>, &str)> = vec![
        (
            "a bad value in the third chunk",
            vec![
                vec![obs("likes", &account, nine, 99.0), good(1)],
                vec![good(2), good(3)],
                vec![
                    good(4),
                    pb::Observation {
                        value: f64::NAN,
                        ..good(5)
                    },
                ],
            ],
            vec!["observations[1].value"],
            "2",
        ),
        (
            "an unknown account in the first chunk",
            vec![
                vec![good(1), obs("likes", MISSING_ACCOUNT, nine, 1.0)],
                vec![good(2)],
            ],
            vec!["observations[1].account"],
            "0",
        ),
        (
            "a derived metric after an empty chunk",
            vec![
                vec![obs("likes", &account, nine, 99.0)],
                vec![],
                vec![obs("bounce_rate", &account, nine, 1.0)],
            ],
            vec!["observations[0].metric_key"],
            "2",
        ),
        (
            "a second chunk over the limit",
            vec![
                vec![obs("likes", &account, nine, 99.0)],
                (0..10_001).map(good).collect(),
            ],
            vec!["observations"],
            "1",
        ),
    ];
    for (description, chunks, fields, chunk) in cases {
        let error = stream(&app, chunks).await.expect_err(description);
        assert_violations(&error, &fields);
        assert_eq!(
            chunk_index(&error).as_deref(),
            Some(chunk),
            "{description}: the chunk index"
        );
        assert_eq!(
            stored(&app).await,
            before,
            "{description} changed the stored data"
        );
    }
}

#[tokio::test]
async fn a_stream_without_any_observation_is_rejected() {
    let app = spawn_app().await;
    let error = stream(&app, vec![]).await.unwrap_err();
    assert_violations(&error, &["observations"]);
    let error = stream(&app, vec![vec![], vec![]]).await.unwrap_err();
    assert_violations(&error, &["observations"]);
    assert_eq!(app.count("observation").await, 0);
}

#[tokio::test]
async fn a_stream_that_breaks_midway_stores_nothing() {
    let app = spawn_app().await;
    let account = app.create_account(Network::Pinterest, "acme").await.name;
    let nine = t("2026-03-02T09:00:00Z");
    let seeded = obs("likes", &account, nine, 10.0);
    write(&app, vec![seeded.clone()]).await.unwrap();
    let before = stored(&app).await;

    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    let mut client = metric_client(&app);
    let call = tokio::spawn(async move {
        client
            .stream_observations(ReceiverStream::new(receiver))
            .await
    });
    sender
        .send(pb::StreamObservationsRequest {
            observations: vec![
                pb::Observation {
                    value: 99.0,
                    ..seeded.clone()
                },
                obs("likes", &account, t("2026-03-02T10:00:00Z"), 1.0),
            ],
        })
        .await
        .unwrap();
    sender
        .send(pb::StreamObservationsRequest {
            observations: (0..1000)
                .map(|i| obs("impressions", "", nine + TimeDelta::seconds(i), 2.0))
                .collect(),
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Drop the call while the sender is still alive, so the server sees the
    // stream reset, never a clean end of stream.
    call.abort();
    match call.await {
        Err(error) if error.is_cancelled() => {}
        other => panic!("the call ended before it was cancelled: {other:?}"),
    }
    assert!(
        transactions_end_within(&app, Duration::from_secs(5)).await,
        "the broken stream's transaction is still open 5 s after the client left"
    );
    assert_eq!(
        stored(&app).await,
        before,
        "nothing of the broken stream is stored"
    );

    // It left no locks behind: a write to the same key goes through at once.
    let replaced = tokio::time::timeout(
        Duration::from_secs(10),
        write(
            &app,
            vec![pb::Observation {
                value: 11.0,
                ..seeded
            }],
        ),
    )
    .await
    .expect("a write to a key of the broken stream is not blocked");
    assert_eq!(replaced.unwrap(), 1);
    drop(sender);
}
