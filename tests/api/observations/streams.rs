//! Streamed writes: one transaction per stream, bad chunks, broken and empty
//! streams, concurrent writers, and rollups of long streams.

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

#[tokio::test]
async fn concurrent_writes_to_the_same_series_keep_rollups_exact() {
    let app = spawn_app().await;
    let a = app.create_account(Network::Reddit, "a").await.name;
    let b = app.create_account(Network::Reddit, "b").await.name;
    let day = t("2026-03-05T00:00:00Z");
    let shared: Vec<(String, DateTime<Utc>)> = [a.as_str(), b.as_str(), ""]
        .iter()
        .flat_map(|account| {
            (0..20).map(move |i| ((*account).to_owned(), day + TimeDelta::minutes(30 * i)))
        })
        .collect();
    let writers = 6;
    let calls: Vec<_> = (0..writers)
        .map(|writer| {
            // Every writer writes the shared keys, each in another order,
            // and ten keys of its own.
            let mut rows: Vec<pb::Observation> = shared
                .iter()
                .enumerate()
                .map(|(k, (account, at))| obs("likes", account, *at, (writer * 100 + k) as f64))
                .collect();
            rows.rotate_left(writer * 7);
            if writer % 2 == 1 {
                rows.reverse();
            }
            rows.extend((0..10).map(|i| {
                obs(
                    "likes",
                    &a,
                    day + TimeDelta::hours(12) + TimeDelta::seconds((writer * 10 + i) as i64),
                    0.5,
                )
            }));
            let mut client = metric_client(&app);
            tokio::spawn(async move {
                // A conflict may be answered with ABORTED and a RetryInfo;
                // a well-behaved client retries the whole batch.
                let mut attempts = 0;
                loop {
                    attempts += 1;
                    let request = pb::WriteObservationsRequest {
                        observations: rows.clone(),
                    };
                    match client.write_observations(request).await {
                        Err(status) if status.code() == Code::Aborted && attempts < 20 => {
                            tokio::time::sleep(Duration::from_millis(10 * attempts)).await;
                        }
                        result => return result,
                    }
                }
            })
        })
        .collect();
    for call in calls {
        call.await
            .unwrap()
            .expect("every concurrent write succeeds");
    }

    assert_eq!(app.count("observation").await, 60 + 60);
    let listed = list_all(&app, "").await;
    for row in &listed {
        if row.value != 0.5 {
            let k = shared
                .iter()
                .position(|(account, at)| *account == row.account && *at == observed(row))
                .expect("a shared key");
            assert_eq!(
                (row.value as usize) % 100,
                k,
                "each key holds one writer's value"
            );
        }
    }
    assert_rollups_match_observations(&app).await;
    let total = query(
        &app,
        "likes",
        &[],
        day,
        day + TimeDelta::days(1),
        Interval::Day,
    )
    .await;
    assert_eq!(
        values(&total),
        [Some(listed.iter().map(|row| row.value).sum())]
    );
}

#[tokio::test]
async fn rollups_stay_exact_when_days_span_many_batches_of_a_long_stream() {
    // Loads are cut into batches of 50,000 rows; rows in time order make each
    // day span several batches, and a second load lands in days that already
    // have rollups. Every rollup must still equal the aggregate of its rows.
    let app = spawn_app().await;
    let accounts = [
        app.create_account(Network::Instagram, "long-a").await.name,
        app.create_account(Network::Facebook, "long-b").await.name,
    ];
    let start = t("2026-10-01T00:00:00Z");
    // One row per account per second: a day holds 172,800 rows.
    let rows_in_time_order = |offset_millis: i64, count: usize| -> Vec<pb::Observation> {
        (0..count)
            .map(|index| {
                let account = &accounts[index % accounts.len()];
                let step = i64::try_from(index / accounts.len()).unwrap();
                let at = start + chrono::TimeDelta::milliseconds(offset_millis + step * 1000);
                obs(
                    "likes",
                    account,
                    at,
                    f64::from(u32::try_from(index % 97).unwrap()),
                )
            })
            .collect()
    };
    let chunks = |rows: Vec<pb::Observation>| -> Vec<Vec<pb::Observation>> {
        rows.chunks(10_000)
            .map(<[pb::Observation]>::to_vec)
            .collect()
    };

    let first = rows_in_time_order(0, 120_000);
    let written = stream(&app, chunks(first)).await.unwrap();
    assert_eq!(written.observation_count, 120_000);
    assert_rollups_match_observations(&app).await;

    // Half a second later: interleaved with the first load's rows, same day.
    let second = rows_in_time_order(500, 60_000);
    stream(&app, chunks(second)).await.unwrap();
    assert_rollups_match_observations(&app).await;
}

#[tokio::test]
async fn a_stream_that_returns_to_an_earlier_day_keeps_its_rollup_exact() {
    // The first day's rollup is inserted after the load's first batches; the
    // stream then moves to the next day and comes back to the first one, so
    // the same load meets its own rollup and must fold into it.
    let app = spawn_app().await;
    let account = app.create_account(Network::Tiktok, "returns").await.name;
    let day_one = t("2026-09-01T00:00:00Z");
    let day_two = day_one + TimeDelta::days(1);
    let rows = |from: DateTime<Utc>, offset_millis: i64, count: i64, value: f64| {
        (0..count)
            .map(|i| {
                obs(
                    "likes",
                    &account,
                    from + TimeDelta::milliseconds(offset_millis + i * 1000),
                    value + (i % 7) as f64,
                )
            })
            .collect::<Vec<_>>()
    };
    let mut all = rows(day_one, 0, 60_000, 1.0);
    all.extend(rows(day_two, 0, 60_000, 10.0));
    all.extend(rows(day_one, 500, 30_000, 100.0));
    let chunks: Vec<Vec<pb::Observation>> = all.chunks(10_000).map(<[_]>::to_vec).collect();
    let written = stream(&app, chunks).await.unwrap();
    assert_eq!(written.observation_count, 150_000);
    assert_rollups_match_observations(&app).await;
    let daily = query(
        &app,
        "likes",
        &[],
        day_one,
        day_two + TimeDelta::days(1),
        Interval::Day,
    )
    .await;
    assert_buckets(
        "likes by day",
        &daily,
        &[day_one, day_two, day_two + TimeDelta::days(1)],
        |from, to| expected_base(&all, "likes", Aggregation::Sum, &[], from, to),
        EXACT,
    );
}

#[tokio::test]
async fn a_write_to_days_a_running_stream_covers_is_not_held_up_by_it() {
    // A long backfill must not make a live writer of the same days wait for
    // the backfill to end: the stream leaves the rollups alone until it
    // finishes.
    let app = spawn_app().await;
    let account = app.create_account(Network::Youtube, "live").await.name;
    let day = t("2026-08-03T00:00:00Z");
    let rows: Vec<pb::Observation> = (0..200_000_i64)
        .map(|i| {
            // 60,000 rows on `day`, then 140,000 on the next day.
            let at = if i < 60_000 {
                day + TimeDelta::seconds(i)
            } else {
                day + TimeDelta::days(1) + TimeDelta::milliseconds((i - 60_000) * 500)
            };
            obs("likes", &account, at, (i % 5) as f64)
        })
        .collect();
    let (chunks, receiver) = tokio::sync::mpsc::channel(2);
    let mut client = metric_client(&app);
    let call = tokio::spawn(async move {
        client
            .stream_observations(ReceiverStream::new(receiver))
            .await
            .map(|response| response.into_inner())
    });
    for chunk in rows.chunks(10_000) {
        chunks
            .send(pb::StreamObservationsRequest {
                observations: chunk.to_vec(),
            })
            .await
            .unwrap();
    }
    // Wait until the service has loaded two batches (100,000 rows, over
    // 6 MB of heap): past `day`, whose rollup a stream writing rollups as it
    // went would now hold locked.
    let loaded = async {
        loop {
            let bytes: i64 = sqlx::query_scalar("select pg_relation_size('observation_y2026')")
                .fetch_one(&app.pool)
                .await
                .unwrap();
            if bytes >= 6_000_000 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), loaded)
        .await
        .expect("the stream's first batches are loaded");
    tokio::time::sleep(Duration::from_millis(500)).await;

    let live = obs("likes", &account, day + TimeDelta::milliseconds(500), 100.0);
    let written = tokio::time::timeout(Duration::from_secs(10), write(&app, vec![live.clone()]))
        .await
        .expect("the write is not held up by the running stream");
    assert_eq!(written.unwrap(), 1);

    drop(chunks);
    let streamed = call.await.unwrap().unwrap();
    assert_eq!(streamed.observation_count, 200_000);
    assert_rollups_match_observations(&app).await;
    let mut all = rows;
    all.push(live);
    let daily = query(
        &app,
        "likes",
        &[],
        day,
        day + TimeDelta::days(2),
        Interval::Day,
    )
    .await;
    assert_buckets(
        "likes by day",
        &daily,
        &[day, day + TimeDelta::days(1), day + TimeDelta::days(2)],
        |from, to| expected_base(&all, "likes", Aggregation::Sum, &[], from, to),
        EXACT,
    );
}
