//! Streams and rollups: concurrent writers to one series, long streams whose
//! days span many batches, streams that return to an earlier day, and writes
//! that a running stream does not hold up.

use super::*;

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
            tokio::spawn(write_resending_aborted(metric_client(&app), rows))
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
