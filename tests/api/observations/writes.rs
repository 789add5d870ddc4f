//! Batch writes: what is stored and listed, replays and replacements, the
//! later row winning, values at the limits, and bad rows rejected whole.

use super::*;

#[tokio::test]
async fn written_observations_are_listed_with_their_source_and_recorded_at() {
    let app = spawn_app().await;
    let account = app.create_account(Network::Instagram, "acme").await.name;
    let before = Utc::now();
    let count = write(
        &app,
        vec![
            pb::Observation {
                source: "instagram-insights".into(),
                recorded_at: Some(ts(t("2000-01-01T00:00:00Z"))),
                ..obs("followers", &account, t("2026-03-02T09:00:00Z"), 1200.0)
            },
            obs("followers", "", t("2026-03-02T09:00:00.123456789Z"), 5000.0),
            pb::Observation {
                source: "instagram-insights".into(),
                ..obs("likes", &account, t("2026-03-02T10:00:00Z"), 42.5)
            },
        ],
    )
    .await
    .unwrap();
    let after = Utc::now();
    assert_eq!(count, 3);

    let listed = list_all(&app, "").await;
    let found: Vec<(&str, &str, DateTime<Utc>, f64, &str)> = listed
        .iter()
        .map(|row| {
            (
                row.metric_key.as_str(),
                row.account.as_str(),
                observed(row),
                row.value,
                row.source.as_str(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            (
                "followers",
                "",
                t("2026-03-02T09:00:00.123456Z"),
                5000.0,
                ""
            ),
            (
                "followers",
                account.as_str(),
                t("2026-03-02T09:00:00Z"),
                1200.0,
                "instagram-insights"
            ),
            (
                "likes",
                account.as_str(),
                t("2026-03-02T10:00:00Z"),
                42.5,
                "instagram-insights"
            ),
        ],
        "organisation-wide first, microsecond precision, sources kept"
    );
    for row in &listed {
        let recorded = time_of(row.recorded_at.as_ref().expect("recorded_at is set"));
        assert!(
            before - TimeDelta::seconds(5) <= recorded && recorded <= after + TimeDelta::seconds(5),
            "recorded_at {recorded} is the time of the write, not the client's value"
        );
    }
}

#[tokio::test]
async fn a_replayed_batch_or_stream_changes_nothing() {
    let app = spawn_app().await;
    let account = app.create_account(Network::Facebook, "acme").await.name;
    let batch = vec![
        obs("likes", &account, t("2026-03-02T09:00:00Z"), 10.0),
        obs("likes", &account, t("2026-03-02T11:00:00Z"), 20.0),
        obs("followers", &account, t("2026-03-02T12:00:00Z"), 300.0),
        pb::Observation {
            source: "crm".into(),
            ..obs("leads", "", t("2026-03-03T08:00:00Z"), 4.0)
        },
    ];
    write(&app, batch.clone()).await.unwrap();
    let first = stored(&app).await;
    let listed = list_all(&app, "").await;

    write(&app, batch.clone()).await.unwrap();
    assert_eq!(stored(&app).await, first, "a replayed batch");
    stream(&app, vec![batch[..2].to_vec(), batch[2..].to_vec()])
        .await
        .unwrap();
    assert_eq!(stored(&app).await, first, "the same rows streamed");
    assert_eq!(list_all(&app, "").await, listed);
    assert_eq!(app.count("observation").await, 4);
}

#[tokio::test]
async fn a_new_value_for_the_same_key_replaces_the_old_one_in_rollups_and_queries() {
    let app = spawn_app().await;
    let account = app.create_account(Network::X, "acme").await.name;
    let day = NaiveDate::from_ymd_opt(2026, 3, 3).unwrap();
    let mut rows = vec![
        obs("likes", &account, t("2026-03-03T09:00:00Z"), 10.0),
        obs("likes", &account, t("2026-03-03T12:00:00Z"), 20.0),
        obs("likes", &account, t("2026-03-03T15:00:00Z"), 30.0),
        obs("likes", &account, t("2026-03-04T08:00:00Z"), 5.0),
        obs("followers", &account, t("2026-03-03T09:00:00Z"), 100.0),
        obs("followers", &account, t("2026-03-03T18:00:00Z"), 200.0),
    ];
    write(&app, rows.clone()).await.unwrap();
    assert_eq!(
        rollup(&app, "likes", &account, day).await,
        Some((60.0, 3, 10.0, 30.0, 30.0, t("2026-03-03T15:00:00Z")))
    );

    let replacements = vec![
        pb::Observation {
            source: "correction".into(),
            ..obs("likes", &account, t("2026-03-03T12:00:00Z"), 100.0)
        },
        obs("likes", &account, t("2026-03-03T15:00:00Z"), 1.0),
        obs("followers", &account, t("2026-03-03T18:00:00Z"), 150.0),
    ];
    assert_eq!(
        write(&app, replacements.clone()).await.unwrap(),
        3,
        "replacements count as stored"
    );
    rows.extend(replacements);

    assert_eq!(
        rollup(&app, "likes", &account, day).await,
        Some((111.0, 3, 1.0, 100.0, 1.0, t("2026-03-03T15:00:00Z"))),
        "the replaced values moved sum, min, max and last"
    );
    assert_eq!(
        rollup(&app, "likes", &account, day).await,
        expected_rollup(&rows, "likes", &account, day)
    );
    assert_eq!(
        rollup(&app, "followers", &account, day).await,
        Some((250.0, 2, 100.0, 150.0, 150.0, t("2026-03-03T18:00:00Z")))
    );
    assert_rollups_match_observations(&app).await;

    let listed = list_all(&app, r#"metric_key = "likes""#).await;
    assert_eq!(listed.len(), 4, "a replacement adds no row");
    let corrected = &listed[1];
    assert_eq!(
        (corrected.value, corrected.source.as_str()),
        (100.0, "correction")
    );

    // Whole days (rollups) and partial days (raw rows) both see the new values.
    let whole_days = query(
        &app,
        "likes",
        &[],
        t("2026-03-03T00:00:00Z"),
        t("2026-03-05T00:00:00Z"),
        Interval::Day,
    )
    .await;
    assert_eq!(values(&whole_days), [Some(111.0), Some(5.0)]);
    let mid_day = query(
        &app,
        "likes",
        &[],
        t("2026-03-03T11:00:00Z"),
        t("2026-03-04T12:00:00Z"),
        Interval::Unspecified,
    )
    .await;
    assert_eq!(values(&mid_day), [Some(106.0)]);
    let followers = query(
        &app,
        "followers",
        &[],
        t("2026-03-03T00:00:00Z"),
        t("2026-03-04T00:00:00Z"),
        Interval::Day,
    )
    .await;
    assert_eq!(values(&followers), [Some(150.0)]);
}

#[tokio::test]
async fn within_one_batch_or_stream_the_later_row_wins() {
    let app = spawn_app().await;
    let account = app.create_account(Network::Tiktok, "acme").await.name;
    let first_key = t("2026-03-02T09:00:00Z");
    write(
        &app,
        vec![
            obs("likes", &account, first_key, 5.0),
            obs("likes", &account, first_key, 7.0),
        ],
    )
    .await
    .unwrap();

    let second_key = t("2026-03-02T10:00:00Z");
    let response = stream(
        &app,
        vec![
            vec![obs("likes", &account, second_key, 1.0)],
            vec![
                obs("likes", &account, second_key, 2.0),
                obs("likes", &account, second_key, 3.0),
            ],
        ],
    )
    .await
    .unwrap();
    assert_eq!(response.chunk_count, 2);

    let listed = list_all(&app, "").await;
    assert_eq!(
        keyed(&listed),
        [
            ("likes".to_owned(), account.clone(), first_key, 7.0),
            ("likes".to_owned(), account.clone(), second_key, 3.0),
        ]
    );
    assert_eq!(
        rollup(&app, "likes", &account, first_key.date_naive()).await,
        Some((10.0, 2, 3.0, 7.0, 3.0, second_key))
    );
    let total = query(
        &app,
        "likes",
        &[],
        t("2026-03-02T00:00:00Z"),
        t("2026-03-03T00:00:00Z"),
        Interval::Unspecified,
    )
    .await;
    assert_eq!(values(&total), [Some(10.0)]);
}

#[tokio::test]
async fn values_at_the_edges_of_the_limits_are_accepted() {
    let app = spawn_app().await;
    let account = app.create_account(Network::Youtube, "acme").await.name;
    let in_23_hours =
        DateTime::from_timestamp((Utc::now() + TimeDelta::hours(23)).timestamp(), 0).unwrap();
    let edges = vec![
        pb::Observation {
            source: "s".repeat(200),
            ..obs("likes", &account, t("1970-01-01T00:00:00Z"), 0.0)
        },
        obs("likes", "", in_23_hours, -2.5),
        obs("impressions", &account, t("2026-03-02T00:00:00Z"), 1e15),
    ];
    assert_eq!(write(&app, edges.clone()).await.unwrap(), 3);
    assert_eq!(
        in_list_order(&list_all(&app, "").await),
        in_list_order(&edges)
    );

    // Exactly 10,000 rows fit in one request.
    let start = t("2026-01-01T00:00:00Z");
    let full: Vec<pb::Observation> = (0..10_000)
        .map(|i| {
            obs(
                "impressions",
                "",
                start + TimeDelta::minutes(i),
                (i % 7) as f64,
            )
        })
        .collect();
    assert_eq!(write(&app, full.clone()).await.unwrap(), 10_000);
    assert_eq!(app.count("observation").await, 10_003);
    let end = start + TimeDelta::minutes(10_000);
    let total = query(
        &app,
        "impressions",
        &[""],
        start,
        end,
        Interval::Unspecified,
    )
    .await;
    assert_eq!(
        values(&total),
        [expected_base(
            &full,
            "impressions",
            Aggregation::Sum,
            &[],
            start,
            end
        )]
    );
    assert_rollups_match_observations(&app).await;
}

#[tokio::test]
async fn bad_observations_are_rejected_with_every_violation_and_nothing_stored() {
    let app = spawn_app().await;
    let account = app.create_account(Network::Facebook, "acme").await.name;
    let nine = t("2026-03-02T09:00:00Z");
    let ten = t("2026-03-02T10:00:00Z");
    write(
        &app,
        vec![
            obs("likes", &account, nine, 10.0),
            obs("followers", "", nine, 500.0),
        ],
    )
    .await
    .unwrap();
    let before = stored(&app).await;

    // Every bad batch starts with good rows, one of which would replace a
    // stored value, so a partial write would show.
    let good = || {
        vec![
            obs("likes", &account, nine, 99.0),
            obs("likes", &account, ten, 1.0),
        ]
    };
    let with = |bad: Vec<pb::Observation>| {
        let mut rows = good();
        rows.extend(bad);
        rows
    };
    let future = Utc::now() + TimeDelta::days(2);
    let cases: Vec<(&str, Vec<pb::Observation>, Vec<&str>)> = vec![
        (
            "empty metric key",
            with(vec![obs("", &account, ten, 1.0)]),
            vec!["observations[2].metric_key"],
        ),
        (
            "unknown metric",
            with(vec![obs("vibes", &account, ten, 1.0)]),
            vec!["observations[2].metric_key"],
        ),
        (
            "derived metric written directly",
            with(vec![obs("engagement_rate", &account, ten, 1.0)]),
            vec!["observations[2].metric_key"],
        ),
        (
            "malformed account",
            with(vec![obs("likes", "accounts/not-a-uuid", ten, 1.0)]),
            vec!["observations[2].account"],
        ),
        (
            "name of another kind of resource",
            with(vec![obs(
                "likes",
                "audits/0190b6f4-5e6b-7c1d-9a2e-3f4a5b6c7d8e",
                ten,
                1.0,
            )]),
            vec!["observations[2].account"],
        ),
        (
            "no such account",
            with(vec![obs("likes", MISSING_ACCOUNT, ten, 1.0)]),
            vec!["observations[2].account"],
        ),
        (
            "missing observed_at",
            with(vec![pb::Observation {
                observed_at: None,
                ..obs("likes", &account, ten, 1.0)
            }]),
            vec!["observations[2].observed_at"],
        ),
        (
            "before 1970",
            with(vec![obs("likes", &account, t("1969-12-31T23:59:59Z"), 1.0)]),
            vec!["observations[2].observed_at"],
        ),
        (
            "more than a day in the future",
            with(vec![obs("likes", &account, future, 1.0)]),
            vec!["observations[2].observed_at"],
        ),
        (
            "not a number and infinities",
            with(vec![
                obs("likes", &account, t("2026-03-02T11:00:00Z"), f64::NAN),
                obs("likes", &account, t("2026-03-02T12:00:00Z"), f64::INFINITY),
                obs(
                    "likes",
                    &account,
                    t("2026-03-02T13:00:00Z"),
                    f64::NEG_INFINITY,
                ),
            ]),
            vec![
                "observations[2].value",
                "observations[3].value",
                "observations[4].value",
            ],
        ),
        (
            "over-long source",
            with(vec![pb::Observation {
                source: "s".repeat(201),
                ..obs("likes", &account, ten, 1.0)
            }]),
            vec!["observations[2].source"],
        ),
        (
            "several bad rows between good ones",
            vec![
                obs("likes", &account, nine, 99.0),
                obs("vibes", &account, ten, f64::NAN),
                obs("likes", &account, ten, 1.0),
                pb::Observation {
                    observed_at: None,
                    ..obs("likes", MISSING_ACCOUNT, ten, 1.0)
                },
            ],
            vec![
                "observations[1].metric_key",
                "observations[1].value",
                "observations[3].account",
                "observations[3].observed_at",
            ],
        ),
        ("empty batch", vec![], vec!["observations"]),
        (
            "10,001 rows",
            (0..10_001)
                .map(|i| obs("impressions", "", nine + TimeDelta::seconds(i), 1.0))
                .collect(),
            vec!["observations"],
        ),
    ];
    for (description, bad, fields) in cases {
        let error = write(&app, bad).await.expect_err(description);
        assert_violations(&error, &fields);
        assert_eq!(
            stored(&app).await,
            before,
            "{description} changed the stored data"
        );
    }

    // A request over 16 MiB is refused before it is read, with the same
    // answer a stream chunk over the limit gets.
    let error = write(
        &app,
        vec![pb::Observation {
            source: "s".repeat(17 << 20),
            ..obs("likes", &account, ten, 1.0)
        }],
    )
    .await
    .unwrap_err();
    assert_error(&error, Code::ResourceExhausted, "MESSAGE_TOO_LARGE");
    assert!(error.message().contains("16 MiB"), "{}", error.message());
    assert_eq!(stored(&app).await, before);
}
