//! QueryMetric aggregation rules (SUM, LAST, AVG, MIN, MAX, derived ratios,
//! no data), checked against values computed here from the rows written.

use super::*;

#[tokio::test]
async fn sum_adds_every_observation_across_the_selected_accounts() {
    let app = spawn_app().await;
    let a = app.create_account(Network::Instagram, "a").await.name;
    let b = app.create_account(Network::Instagram, "b").await.name;
    let rows = vec![
        obs("impressions", &a, t("2026-03-02T08:00:00Z"), 100.0),
        obs("impressions", &a, t("2026-03-02T20:00:00Z"), 50.0),
        obs("impressions", &b, t("2026-03-02T12:00:00Z"), 30.0),
        obs("impressions", "", t("2026-03-02T23:59:59.999999Z"), 7.0),
        obs("impressions", &a, t("2026-03-03T00:00:00Z"), 1.0),
        obs("impressions", &b, t("2026-03-03T13:00:00Z"), 2.5),
        obs("impressions", "", t("2026-03-04T06:00:00Z"), 0.25),
        // Outside the range on both sides.
        obs("impressions", &a, t("2026-03-01T23:59:59Z"), 1000.0),
        obs("impressions", &b, t("2026-03-05T00:00:00Z"), 1000.0),
        // Another metric.
        obs("reach", &a, t("2026-03-02T08:00:00Z"), 1000.0),
    ];
    write(&app, rows.clone()).await.unwrap();
    let bounds = [
        t("2026-03-02T00:00:00Z"),
        t("2026-03-03T00:00:00Z"),
        t("2026-03-04T00:00:00Z"),
        t("2026-03-05T00:00:00Z"),
    ];

    let every = query(
        &app,
        "impressions",
        &[],
        bounds[0],
        bounds[3],
        Interval::Day,
    )
    .await;
    assert_eq!(values(&every), [Some(187.0), Some(3.5), Some(0.25)]);
    let only_a = query(
        &app,
        "impressions",
        &[a.as_str()],
        bounds[0],
        bounds[3],
        Interval::Day,
    )
    .await;
    assert_eq!(values(&only_a), [Some(150.0), Some(1.0), None]);

    let selections: [(&str, Vec<&str>, Vec<&str>); 6] = [
        ("every account and the organisation", vec![], vec![]),
        ("one account", vec![a.as_str()], vec![a.as_str()]),
        ("the organisation-wide series", vec![""], vec![""]),
        (
            "an account and the organisation",
            vec![b.as_str(), ""],
            vec![b.as_str(), ""],
        ),
        (
            "duplicates are ignored",
            vec![a.as_str(), b.as_str(), a.as_str()],
            vec![a.as_str(), b.as_str()],
        ),
        (
            "both accounts",
            vec![a.as_str(), b.as_str()],
            vec![a.as_str(), b.as_str()],
        ),
    ];
    for (description, accounts, counted) in selections {
        let daily = query(
            &app,
            "impressions",
            &accounts,
            bounds[0],
            bounds[3],
            Interval::Day,
        )
        .await;
        assert_buckets(
            description,
            &daily,
            &bounds,
            |start, end| {
                expected_base(&rows, "impressions", Aggregation::Sum, &counted, start, end)
            },
            EXACT,
        );
        let whole = query(
            &app,
            "impressions",
            &accounts,
            bounds[0],
            bounds[3],
            Interval::Unspecified,
        )
        .await;
        assert_buckets(
            description,
            &whole,
            &[bounds[0], bounds[3]],
            |start, end| {
                expected_base(&rows, "impressions", Aggregation::Sum, &counted, start, end)
            },
            EXACT,
        );
    }
}

#[tokio::test]
async fn last_adds_each_accounts_latest_observation_in_the_bucket() {
    let app = spawn_app().await;
    let a = app.create_account(Network::X, "a").await.name;
    let b = app.create_account(Network::X, "b").await.name;
    let rows = vec![
        obs("followers", &a, t("2026-03-02T08:00:00Z"), 100.0),
        obs("followers", &a, t("2026-03-02T20:00:00Z"), 110.0),
        // The latest, not the largest.
        obs("followers", &a, t("2026-03-03T09:00:00Z"), 90.0),
        obs("followers", &b, t("2026-03-02T12:00:00Z"), 50.0),
        obs("followers", "", t("2026-03-03T10:00:00Z"), 7.0),
        obs("followers", "", t("2026-03-03T08:00:00Z"), 9.0),
    ];
    write(&app, rows.clone()).await.unwrap();
    let bounds = [
        t("2026-03-02T00:00:00Z"),
        t("2026-03-03T00:00:00Z"),
        t("2026-03-04T00:00:00Z"),
        t("2026-03-05T00:00:00Z"),
    ];
    let daily = query(&app, "followers", &[], bounds[0], bounds[3], Interval::Day).await;
    assert_eq!(
        values(&daily),
        [Some(160.0), Some(97.0), None],
        "b has no observation on the 3rd and adds nothing there"
    );
    let whole = query(
        &app,
        "followers",
        &[],
        bounds[0],
        bounds[3],
        Interval::Unspecified,
    )
    .await;
    assert_eq!(values(&whole), [Some(90.0 + 50.0 + 7.0)]);

    for accounts in [vec![], vec![a.as_str()], vec![b.as_str(), ""], vec![""]] {
        let daily = query(
            &app,
            "followers",
            &accounts,
            bounds[0],
            bounds[3],
            Interval::Day,
        )
        .await;
        assert_buckets(
            &format!("followers of {accounts:?}"),
            &daily,
            &bounds,
            |start, end| {
                expected_base(&rows, "followers", Aggregation::Last, &accounts, start, end)
            },
            EXACT,
        );
        let hourly = query(
            &app,
            "followers",
            &accounts,
            t("2026-03-03T07:30:00Z"),
            t("2026-03-03T10:30:00Z"),
            Interval::Hour,
        )
        .await;
        assert_buckets(
            &format!("hourly followers of {accounts:?}"),
            &hourly,
            &[
                t("2026-03-03T07:30:00Z"),
                t("2026-03-03T08:00:00Z"),
                t("2026-03-03T09:00:00Z"),
                t("2026-03-03T10:00:00Z"),
                t("2026-03-03T10:30:00Z"),
            ],
            |start, end| {
                expected_base(&rows, "followers", Aggregation::Last, &accounts, start, end)
            },
            EXACT,
        );
    }
}

#[tokio::test]
async fn avg_min_and_max_act_over_all_observations() {
    let app = spawn_app().await;
    let a = app.create_account(Network::Facebook, "a").await.name;
    let b = app.create_account(Network::Facebook, "b").await.name;
    let metrics = [
        ("response_minutes_avg", Aggregation::Avg),
        ("response_minutes_min", Aggregation::Min),
        ("response_minutes_max", Aggregation::Max),
    ];
    let mut rows = Vec::new();
    for (key, aggregation) in metrics {
        create_metric(&app, base_metric(key, aggregation)).await;
        rows.extend([
            obs(key, &a, t("2026-03-02T08:00:00Z"), 1.0),
            obs(key, &a, t("2026-03-02T10:00:00Z"), 2.0),
            obs(key, &a, t("2026-03-02T12:00:00Z"), 3.0),
            obs(key, &b, t("2026-03-02T15:00:00Z"), 10.0),
            obs(key, &a, t("2026-03-03T09:00:00Z"), -4.0),
            obs(key, "", t("2026-03-03T11:00:00Z"), 0.5),
        ]);
    }
    write(&app, rows.clone()).await.unwrap();
    let bounds = [
        t("2026-03-02T00:00:00Z"),
        t("2026-03-03T00:00:00Z"),
        t("2026-03-04T00:00:00Z"),
        t("2026-03-05T00:00:00Z"),
    ];

    let avg = query(
        &app,
        "response_minutes_avg",
        &[],
        bounds[0],
        bounds[3],
        Interval::Day,
    )
    .await;
    assert_eq!(
        values(&avg),
        [Some(4.0), Some(-1.75), None],
        "the mean of all observations (16 / 4), not of per-account means (6)"
    );
    let min = query(
        &app,
        "response_minutes_min",
        &[],
        bounds[0],
        bounds[3],
        Interval::Day,
    )
    .await;
    assert_eq!(values(&min), [Some(1.0), Some(-4.0), None]);
    let max = query(
        &app,
        "response_minutes_max",
        &[],
        bounds[0],
        bounds[3],
        Interval::Day,
    )
    .await;
    assert_eq!(values(&max), [Some(10.0), Some(0.5), None]);

    for (key, aggregation) in metrics {
        let tolerance = if aggregation == Aggregation::Avg {
            RATIO
        } else {
            EXACT
        };
        for accounts in [vec![], vec![a.as_str()], vec![b.as_str(), ""]] {
            let whole = query(
                &app,
                key,
                &accounts,
                bounds[0],
                bounds[3],
                Interval::Unspecified,
            )
            .await;
            assert_buckets(
                &format!("{key} of {accounts:?}"),
                &whole,
                &[bounds[0], bounds[3]],
                |start, end| expected_base(&rows, key, aggregation, &accounts, start, end),
                tolerance,
            );
            let mid_day = query(
                &app,
                key,
                &accounts,
                t("2026-03-02T09:00:00Z"),
                t("2026-03-03T10:00:00Z"),
                Interval::Day,
            )
            .await;
            assert_buckets(
                &format!("{key} of {accounts:?} from mid-day to mid-day"),
                &mid_day,
                &[
                    t("2026-03-02T09:00:00Z"),
                    t("2026-03-03T00:00:00Z"),
                    t("2026-03-03T10:00:00Z"),
                ],
                |start, end| expected_base(&rows, key, aggregation, &accounts, start, end),
                tolerance,
            );
        }
    }
}

#[tokio::test]
async fn a_derived_metric_is_the_ratio_of_sums_not_the_average_of_ratios() {
    let app = spawn_app().await;
    let a = app.create_account(Network::Linkedin, "a").await.name;
    let b = app.create_account(Network::Linkedin, "b").await.name;
    let rows = vec![
        // Click-through: a 1 / 4 = 25 %, b 30 / 40 = 75 %.
        obs("clicks", &a, t("2026-03-02T10:00:00Z"), 1.0),
        obs("impressions", &a, t("2026-03-02T10:00:00Z"), 4.0),
        obs("clicks", &b, t("2026-03-02T11:00:00Z"), 30.0),
        obs("impressions", &b, t("2026-03-02T11:00:00Z"), 40.0),
        obs("clicks", &a, t("2026-03-03T10:00:00Z"), 3.0),
        obs("impressions", &a, t("2026-03-03T10:00:00Z"), 8.0),
        // Engagement: a 20 / 200 = 10 %, b 60 / 300 = 20 %.
        obs("likes", &a, t("2026-03-02T09:00:00Z"), 10.0),
        obs("comments", &a, t("2026-03-02T13:00:00Z"), 5.0),
        obs("shares", &a, t("2026-03-02T14:00:00Z"), 5.0),
        obs("followers", &a, t("2026-03-02T08:00:00Z"), 100.0),
        obs("followers", &a, t("2026-03-02T20:00:00Z"), 200.0),
        obs("likes", &b, t("2026-03-02T09:30:00Z"), 60.0),
        obs("followers", &b, t("2026-03-02T12:00:00Z"), 300.0),
    ];
    write(&app, rows.clone()).await.unwrap();
    let day_one = (t("2026-03-02T00:00:00Z"), t("2026-03-03T00:00:00Z"));

    let ctr = query(
        &app,
        "click_through_rate",
        &[],
        day_one.0,
        day_one.1,
        Interval::Unspecified,
    )
    .await;
    let ratio_of_sums = 100.0 * 31.0 / 44.0;
    let average_of_ratios = (25.0 + 75.0) / 2.0;
    let value = ctr[0].value.expect("a click-through rate");
    assert!(
        (value - ratio_of_sums).abs() < 1e-9,
        "{value} is not 100 × 31 / 44"
    );
    assert!((value - average_of_ratios).abs() > 1.0);

    let engagement = query(
        &app,
        "engagement_rate",
        &[],
        day_one.0,
        day_one.1,
        Interval::Unspecified,
    )
    .await;
    let value = engagement[0].value.expect("an engagement rate");
    assert!(
        (value - 16.0).abs() < 1e-9,
        "{value} is not 100 × (10 + 5 + 5 + 60) / (200 + 300), nor the mean of 10 and 20"
    );

    let bounds = [
        t("2026-03-02T00:00:00Z"),
        t("2026-03-03T00:00:00Z"),
        t("2026-03-04T00:00:00Z"),
    ];
    for accounts in [vec![], vec![a.as_str()], vec![b.as_str()], vec![""]] {
        for (key, ratio) in [
            ("click_through_rate", &CLICK_THROUGH_RATE),
            ("engagement_rate", &ENGAGEMENT_RATE),
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
}

#[tokio::test]
async fn buckets_without_data_have_no_value_which_differs_from_zero() {
    let app = spawn_app().await;
    let a = app.create_account(Network::Youtube, "a").await.name;
    let rows = vec![
        // Day 1: no impressions at all, so a zero denominator.
        obs("impressions", &a, t("2026-03-02T10:00:00Z"), 0.0),
        obs("clicks", &a, t("2026-03-02T10:00:00Z"), 3.0),
        // Day 2: nothing.
        // Day 3: impressions but no clicks, so no numerator.
        obs("impressions", &a, t("2026-03-04T10:00:00Z"), 5.0),
        // Day 4: no clicks out of ten impressions.
        obs("impressions", &a, t("2026-03-05T10:00:00Z"), 10.0),
        obs("clicks", &a, t("2026-03-05T10:00:00Z"), 0.0),
    ];
    write(&app, rows).await.unwrap();
    let start = t("2026-03-02T00:00:00Z");
    let end = t("2026-03-06T00:00:00Z");

    let impressions = query(&app, "impressions", &[], start, end, Interval::Day).await;
    assert_eq!(
        values(&impressions),
        [Some(0.0), None, Some(5.0), Some(10.0)]
    );
    let clicks = query(&app, "clicks", &[], start, end, Interval::Day).await;
    assert_eq!(values(&clicks), [Some(3.0), None, None, Some(0.0)]);
    let ctr = query(&app, "click_through_rate", &[], start, end, Interval::Day).await;
    assert_eq!(
        values(&ctr),
        [None, None, None, Some(0.0)],
        "zero denominator, no data, no numerator, then a real 0 %"
    );
    let nothing = query(&app, "likes", &[], start, end, Interval::Unspecified).await;
    assert_eq!(values(&nothing), [None]);
}

#[tokio::test]
async fn a_missing_term_counts_as_zero_when_its_side_has_other_observations() {
    let app = spawn_app().await;
    let a = app.create_account(Network::Facebook, "a").await.name;
    let rows = vec![
        // Day 1: promoters and responses, no detractors.
        obs("promoters", &a, t("2026-03-02T10:00:00Z"), 30.0),
        obs("nps_responses", &a, t("2026-03-02T10:00:00Z"), 50.0),
        // Day 2: detractors and responses, no promoters.
        obs("detractors", &a, t("2026-03-03T10:00:00Z"), 10.0),
        obs("nps_responses", &a, t("2026-03-03T10:00:00Z"), 50.0),
        // Day 3: everything.
        obs("promoters", &a, t("2026-03-04T10:00:00Z"), 30.0),
        obs("detractors", "", t("2026-03-04T11:00:00Z"), 10.0),
        obs("nps_responses", &a, t("2026-03-04T10:00:00Z"), 40.0),
        // Day 4: promoters but no responses.
        obs("promoters", &a, t("2026-03-05T10:00:00Z"), 5.0),
        // Share of voice: brand mentions without competitor mentions, then
        // competitor mentions only.
        obs("mentions", &a, t("2026-03-02T10:00:00Z"), 5.0),
        obs("competitor_mentions", &a, t("2026-03-03T10:00:00Z"), 5.0),
    ];
    write(&app, rows.clone()).await.unwrap();
    let bounds = [
        t("2026-03-02T00:00:00Z"),
        t("2026-03-03T00:00:00Z"),
        t("2026-03-04T00:00:00Z"),
        t("2026-03-05T00:00:00Z"),
        t("2026-03-06T00:00:00Z"),
    ];

    let nps = query(
        &app,
        "net_promoter_score",
        &[],
        bounds[0],
        bounds[4],
        Interval::Day,
    )
    .await;
    assert_buckets(
        "net promoter score",
        &nps,
        &bounds,
        |start, end| expected_ratio(&rows, &NET_PROMOTER_SCORE, &[], start, end),
        RATIO,
    );
    let nps = values(&nps);
    assert!((nps[0].unwrap() - 60.0).abs() < 1e-9, "{nps:?}");
    assert!((nps[1].unwrap() + 20.0).abs() < 1e-9, "{nps:?}");
    assert!((nps[2].unwrap() - 50.0).abs() < 1e-9, "{nps:?}");
    assert_eq!(nps[3], None, "no responses, no score");

    let sov = query(
        &app,
        "share_of_voice",
        &[],
        bounds[0],
        bounds[4],
        Interval::Day,
    )
    .await;
    assert_buckets(
        "share of voice",
        &sov,
        &bounds,
        |start, end| expected_ratio(&rows, &SHARE_OF_VOICE, &[], start, end),
        RATIO,
    );
    assert_eq!(
        values(&sov),
        [Some(100.0), None, None, None],
        "100 % without competitor mentions; nothing without brand mentions"
    );
}
