//! QueryMetric windows and buckets: mid-day edges, UTC-aligned intervals,
//! and custom metrics.

use super::*;

#[tokio::test]
async fn windows_with_mid_day_edges_equal_the_value_of_the_raw_rows() {
    let app = spawn_app().await;
    let a = app.create_account(Network::Instagram, "a").await.name;
    let b = app.create_account(Network::Instagram, "b").await.name;
    let accounts = ["", a.as_str(), b.as_str()];
    for (key, aggregation) in [
        ("queue_avg", Aggregation::Avg),
        ("queue_min", Aggregation::Min),
        ("queue_max", Aggregation::Max),
    ] {
        create_metric(&app, base_metric(key, aggregation)).await;
    }
    create_metric(
        &app,
        derived_metric(
            "clicks_per_follower",
            vec![term("clicks", 1.0)],
            vec![term("followers", 1.0)],
            100.0,
        ),
    )
    .await;
    const CLICKS_PER_FOLLOWER: Ratio = Ratio {
        numerator: &[("clicks", 1.0, Aggregation::Sum)],
        denominator: &[("followers", 1.0, Aggregation::Last)],
        scale: 100.0,
    };
    let metrics = [
        ("impressions", Aggregation::Sum),
        ("clicks", Aggregation::Sum),
        ("followers", Aggregation::Last),
        ("queue_avg", Aggregation::Avg),
        ("queue_min", Aggregation::Min),
        ("queue_max", Aggregation::Max),
    ];
    // Every 45 minutes from Sunday 1 March to Wednesday 4 March, each account
    // a few minutes apart, with values that vary.
    let first_day = t("2026-03-01T00:00:00Z");
    let mut rows = Vec::new();
    for (m, (key, _)) in metrics.iter().enumerate() {
        for (n, account) in accounts.iter().enumerate() {
            for day in 0..4 {
                for k in 0..32 {
                    let at = first_day
                        + TimeDelta::days(day)
                        + TimeDelta::minutes(45 * k + 7 * n as i64);
                    let value = ((k * 7 + n as i64 * 3 + day * 5 + m as i64) % 23) as f64 * 0.5;
                    rows.push(obs(key, account, at, value));
                }
            }
        }
        // Right at the end of the range (excluded) and just before it.
        rows.push(obs(key, "", t("2026-03-04T14:00:00Z"), 1000.0));
        rows.push(obs(key, &a, t("2026-03-04T13:59:59.999999Z"), 3.0));
    }
    write(&app, rows.clone()).await.unwrap();

    let start = t("2026-03-02T10:30:00Z");
    let end = t("2026-03-04T14:00:00Z");
    assert!(
        rows.iter().any(|row| observed(row) == start),
        "a row sits exactly on the start"
    );
    let ranges: Vec<(&str, Interval, Vec<DateTime<Utc>>)> = vec![
        ("whole range", Interval::Unspecified, vec![start, end]),
        (
            "days",
            Interval::Day,
            vec![
                start,
                t("2026-03-03T00:00:00Z"),
                t("2026-03-04T00:00:00Z"),
                end,
            ],
        ),
        (
            "hours",
            Interval::Hour,
            vec![
                start,
                t("2026-03-02T11:00:00Z"),
                t("2026-03-02T12:00:00Z"),
                t("2026-03-02T13:00:00Z"),
                t("2026-03-02T14:00:00Z"),
                t("2026-03-02T14:15:00Z"),
            ],
        ),
        (
            "a week cut on both sides",
            Interval::Week,
            vec![t("2026-03-01T06:00:00Z"), t("2026-03-02T00:00:00Z"), end],
        ),
        (
            "mid-day to mid-day with no whole day",
            Interval::Unspecified,
            vec![start, t("2026-03-03T09:15:00Z")],
        ),
    ];
    for selection in [vec![], vec![a.as_str()], vec![b.as_str(), ""]] {
        for (description, interval, bounds) in &ranges {
            let (from, to) = (bounds[0], *bounds.last().unwrap());
            for (key, aggregation) in metrics {
                let buckets = query(&app, key, &selection, from, to, *interval).await;
                let tolerance = if aggregation == Aggregation::Avg {
                    RATIO
                } else {
                    EXACT
                };
                assert_buckets(
                    &format!("{key} of {selection:?}, {description}"),
                    &buckets,
                    bounds,
                    |start, end| expected_base(&rows, key, aggregation, &selection, start, end),
                    tolerance,
                );
            }
            for (key, ratio) in [
                ("click_through_rate", &CLICK_THROUGH_RATE),
                ("clicks_per_follower", &CLICKS_PER_FOLLOWER),
            ] {
                let buckets = query(&app, key, &selection, from, to, *interval).await;
                assert_buckets(
                    &format!("{key} of {selection:?}, {description}"),
                    &buckets,
                    bounds,
                    |start, end| expected_ratio(&rows, ratio, &selection, start, end),
                    RATIO,
                );
            }
        }
    }
    assert_rollups_match_observations(&app).await;
}

#[tokio::test]
async fn buckets_align_to_utc_hours_days_iso_weeks_and_months() {
    let app = spawn_app().await;
    // One observation at noon every day from 10 January to 31 March 2026.
    let first = t("2026-01-10T12:00:00Z");
    let rows: Vec<pb::Observation> = (0..81)
        .map(|day| {
            obs(
                "impressions",
                "",
                first + TimeDelta::days(day),
                (day + 1) as f64,
            )
        })
        .collect();
    write(&app, rows.clone()).await.unwrap();

    let cases: Vec<(&str, Interval, Vec<&str>)> = vec![
        (
            "months, cut at both ends",
            Interval::Month,
            vec![
                "2026-01-15T00:00:00Z",
                "2026-02-01T00:00:00Z",
                "2026-03-01T00:00:00Z",
                "2026-03-10T00:00:00Z",
            ],
        ),
        (
            "months across a new year, the first without data",
            Interval::Month,
            vec![
                "2025-12-20T00:00:00Z",
                "2026-01-01T00:00:00Z",
                "2026-02-01T00:00:00Z",
            ],
        ),
        (
            "ISO weeks from a Wednesday noon to a Tuesday",
            Interval::Week,
            vec![
                "2026-03-04T12:00:00Z",
                "2026-03-09T00:00:00Z",
                "2026-03-16T00:00:00Z",
                "2026-03-23T00:00:00Z",
                "2026-03-24T00:00:00Z",
            ],
        ),
        (
            "ISO weeks across a new year, aligned",
            Interval::Week,
            vec![
                "2025-12-29T00:00:00Z",
                "2026-01-05T00:00:00Z",
                "2026-01-12T00:00:00Z",
                "2026-01-19T00:00:00Z",
            ],
        ),
        (
            "days from 06:00 to 06:00",
            Interval::Day,
            vec![
                "2026-03-05T06:00:00Z",
                "2026-03-06T00:00:00Z",
                "2026-03-07T00:00:00Z",
                "2026-03-08T00:00:00Z",
                "2026-03-08T06:00:00Z",
            ],
        ),
        (
            "days, aligned",
            Interval::Day,
            vec![
                "2026-03-05T00:00:00Z",
                "2026-03-06T00:00:00Z",
                "2026-03-07T00:00:00Z",
                "2026-03-08T00:00:00Z",
            ],
        ),
        (
            "hours from half past",
            Interval::Hour,
            vec![
                "2026-03-05T10:30:00Z",
                "2026-03-05T11:00:00Z",
                "2026-03-05T12:00:00Z",
                "2026-03-05T13:00:00Z",
            ],
        ),
        (
            "one bucket without an interval",
            Interval::Unspecified,
            vec!["2026-01-15T00:00:00Z", "2026-03-10T00:00:00Z"],
        ),
        (
            "one short bucket",
            Interval::Month,
            vec!["2026-03-05T11:00:00Z", "2026-03-05T13:00:00Z"],
        ),
    ];
    for (description, interval, bounds) in cases {
        let bounds: Vec<DateTime<Utc>> = bounds.into_iter().map(t).collect();
        let buckets = query(
            &app,
            "impressions",
            &[],
            bounds[0],
            *bounds.last().unwrap(),
            interval,
        )
        .await;
        assert_buckets(
            description,
            &buckets,
            &bounds,
            |start, end| expected_base(&rows, "impressions", Aggregation::Sum, &[], start, end),
            EXACT,
        );
    }
}

#[tokio::test]
async fn custom_metrics_are_written_and_queried_like_builtin_ones() {
    let app = spawn_app().await;
    let a = app.create_account(Network::Linkedin, "a").await.name;
    let b = app.create_account(Network::Linkedin, "b").await.name;
    create_metric(&app, base_metric("webinar_signups", Aggregation::Sum)).await;
    create_metric(&app, base_metric("webinar_invites", Aggregation::Sum)).await;
    create_metric(
        &app,
        derived_metric(
            "webinar_acceptance",
            vec![term("webinar_signups", 1.0)],
            vec![term("webinar_invites", 1.0)],
            100.0,
        ),
    )
    .await;
    create_metric(
        &app,
        derived_metric(
            "weighted_engagement",
            vec![
                term("likes", 1.0),
                term("comments", 2.0),
                term("webinar_signups", -0.5),
            ],
            vec![term("followers", 1.0)],
            1000.0,
        ),
    )
    .await;
    const WEBINAR_ACCEPTANCE: Ratio = Ratio {
        numerator: &[("webinar_signups", 1.0, Aggregation::Sum)],
        denominator: &[("webinar_invites", 1.0, Aggregation::Sum)],
        scale: 100.0,
    };
    const WEIGHTED_ENGAGEMENT: Ratio = Ratio {
        numerator: &[
            ("likes", 1.0, Aggregation::Sum),
            ("comments", 2.0, Aggregation::Sum),
            ("webinar_signups", -0.5, Aggregation::Sum),
        ],
        denominator: &[("followers", 1.0, Aggregation::Last)],
        scale: 1000.0,
    };

    let rows = vec![
        obs("webinar_signups", &a, t("2026-03-02T10:00:00Z"), 3.0),
        obs("webinar_invites", &a, t("2026-03-02T09:00:00Z"), 40.0),
        obs("webinar_signups", &b, t("2026-03-02T15:00:00Z"), 9.0),
        obs("webinar_invites", &b, t("2026-03-02T08:00:00Z"), 12.0),
        obs("webinar_signups", "", t("2026-03-03T10:00:00Z"), 2.0),
        obs("webinar_invites", "", t("2026-03-03T10:00:00Z"), 8.0),
        obs("likes", &a, t("2026-03-02T11:00:00Z"), 20.0),
        obs("comments", &a, t("2026-03-02T12:00:00Z"), 4.0),
        obs("followers", &a, t("2026-03-02T13:00:00Z"), 1000.0),
        obs("likes", &b, t("2026-03-03T11:00:00Z"), 6.0),
        obs("followers", &b, t("2026-03-03T13:00:00Z"), 250.0),
    ];
    assert_eq!(write(&app, rows.clone()).await.unwrap(), 11);

    let bounds = [
        t("2026-03-02T00:00:00Z"),
        t("2026-03-03T00:00:00Z"),
        t("2026-03-04T00:00:00Z"),
    ];
    let signups = query(
        &app,
        "webinar_signups",
        &[],
        bounds[0],
        bounds[2],
        Interval::Day,
    )
    .await;
    assert_eq!(values(&signups), [Some(12.0), Some(2.0)]);
    for accounts in [vec![], vec![a.as_str()], vec![b.as_str(), ""]] {
        for (key, ratio) in [
            ("webinar_acceptance", &WEBINAR_ACCEPTANCE),
            ("weighted_engagement", &WEIGHTED_ENGAGEMENT),
        ] {
            let daily = query(&app, key, &accounts, bounds[0], bounds[2], Interval::Day).await;
            assert_buckets(
                &format!("{key} of {accounts:?}"),
                &daily,
                &bounds,
                |start, end| expected_ratio(&rows, ratio, &accounts, start, end),
                RATIO,
            );
        }
    }

    // A custom derived metric is computed, never observed.
    let error = write(
        &app,
        vec![obs(
            "webinar_acceptance",
            &a,
            t("2026-03-02T10:00:00Z"),
            1.0,
        )],
    )
    .await
    .unwrap_err();
    assert_violations(&error, &["observations[0].metric_key"]);
}
