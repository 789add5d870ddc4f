//! Numbers beyond the ±1e15 bound: rejected naming the field, so no day's
//! sums can overflow; values at the bound sum exactly.

use chrono::{DateTime, TimeDelta, Utc};
use goalpost::pb;
use goalpost::pb::Interval;

use super::{Call, Fixture, case, entry, expect_rejected, fixture, obs, recent_day, run, ts};
use crate::helpers::{TestApp, assert_violations, spawn_app};
use crate::metrics::{derived_metric, metric_client, term};

/// The documented bound on a caller's number.
const BOUND: f64 = 1e15;

/// The double just above the bound (doubles near 1e15 are 0.125 apart).
fn just_above_bound() -> f64 {
    f64::from_bits(BOUND.to_bits() + 1)
}

#[tokio::test]
async fn an_observation_value_beyond_the_bound_is_rejected_naming_the_value() {
    let app = spawn_app().await;
    let fx = fixture(&app).await;
    let day = recent_day() + TimeDelta::hours(5);
    let mut cases = Vec::new();
    for (description, value) in [
        ("near the largest double", 1e308),
        ("its negative", -1e308),
        ("just above the bound", just_above_bound()),
        ("just below minus the bound", -just_above_bound()),
        ("not a number", f64::NAN),
        ("infinity", f64::INFINITY),
    ] {
        cases.push(case(
            description,
            Call::Write(vec![obs("likes", day, 1.0), obs("shares", day, value)]),
            &["observations[1].value"],
        ));
        cases.push(case(
            description,
            Call::Stream(vec![obs("likes", day, value)]),
            &["observations[0].value"],
        ));
    }
    expect_rejected(&app, &fx, cases).await;
}

/// The value of the one bucket of `metric_key` on `day` from `start` on.
async fn day_value(app: &TestApp, metric_key: &str, start: DateTime<Utc>) -> Option<f64> {
    let day = recent_day();
    let buckets = metric_client(app)
        .query_metric(pb::QueryMetricRequest {
            metric_key: metric_key.to_owned(),
            start: Some(ts(start)),
            end: Some(ts(day + TimeDelta::days(1))),
            interval: Interval::Unspecified as i32,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("query {metric_key}: {e:?}"))
        .into_inner()
        .buckets;
    buckets[0].value
}

#[tokio::test]
async fn a_day_sent_huge_values_keeps_exact_sums_and_stays_usable() {
    let app = spawn_app().await;
    let day = recent_day();
    let at = |hours| day + TimeDelta::hours(hours);
    let none = Fixture::default();
    let write = |observations| run(&app, &none, Call::Write(observations));

    // Two of these on one day used to overflow the day's rollup sum.
    for value in [1e308, 1e308, -1e308] {
        let error = write(vec![obs("impressions", at(3), value)])
            .await
            .unwrap_err();
        assert_violations(&error, &["observations[0].value"]);
    }
    write(vec![
        obs("impressions", at(1), BOUND),
        obs("impressions", at(2), BOUND),
    ])
    .await
    .expect("values at the bound are accepted");
    write(vec![
        obs("reach", at(1), -BOUND),
        obs("reach", at(2), -BOUND),
    ])
    .await
    .expect("values at minus the bound are accepted");

    for (metric_key, sum) in [("impressions", 2.0 * BOUND), ("reach", -2.0 * BOUND)] {
        // From midnight the rollup answers; from 00:30 the raw rows do.
        assert_eq!(
            day_value(&app, metric_key, day).await,
            Some(sum),
            "{metric_key}"
        );
        assert_eq!(
            day_value(&app, metric_key, day + TimeDelta::minutes(30)).await,
            Some(sum),
            "{metric_key} from raw rows"
        );
        let listed = metric_client(&app)
            .list_observations(pb::ListObservationsRequest {
                filter: format!("metric_key = {metric_key}"),
                ..Default::default()
            })
            .await
            .expect("list the day")
            .into_inner()
            .observations;
        let values: Vec<f64> = listed.iter().map(|row| row.value).collect();
        assert_eq!(values, [sum / 2.0, sum / 2.0], "{metric_key}");
    }

    // A later write and a replacement on that day still work.
    write(vec![
        obs("impressions", at(4), 1.0),
        obs("impressions", at(1), -BOUND),
    ])
    .await
    .expect("a later write on the day");
    assert_eq!(day_value(&app, "impressions", day).await, Some(1.0));
    assert_eq!(
        day_value(&app, "impressions", day + TimeDelta::minutes(30)).await,
        Some(1.0)
    );
}

#[tokio::test]
async fn an_audit_value_beyond_the_bound_is_rejected_up_front() {
    let app = spawn_app().await;
    let fx = fixture(&app).await;
    let new_audit = |value: f64| {
        Call::CreateAudit(pb::Audit {
            title: "Q3 audit".into(),
            entries: vec![entry(&fx.account, &[("likes", 1.0), ("followers", value)])],
            ..Default::default()
        })
    };
    let cases = vec![
        case(
            "upserted 1e308",
            Call::UpsertEntry(entry(&fx.account, &[("likes", 1e308)])),
            &["entry.metrics[likes]"],
        ),
        case(
            "upserted just above the bound",
            Call::UpsertEntry(entry(&fx.account, &[("likes", -just_above_bound())])),
            &["entry.metrics[likes]"],
        ),
        case(
            "created with -1e308",
            new_audit(-1e308),
            &["audit.entries[0].metrics[followers]"],
        ),
    ];
    expect_rejected(&app, &fx, cases).await;

    // At the bound an entry is kept and its audit completes.
    run(
        &app,
        &fx,
        Call::UpsertEntry(entry(&fx.account, &[("likes", BOUND)])),
    )
    .await
    .expect("a value at the bound");
    app.audits()
        .complete_audit(pb::CompleteAuditRequest {
            name: fx.audit.clone(),
            etag: String::new(),
        })
        .await
        .expect("complete the audit");
    let filter = format!("metric_key = likes AND account = \"{}\"", fx.account);
    let listed = metric_client(&app)
        .list_observations(pb::ListObservationsRequest {
            filter,
            ..Default::default()
        })
        .await
        .expect("list what the audit recorded")
        .into_inner()
        .observations;
    let values: Vec<f64> = listed.iter().map(|row| row.value).collect();
    assert_eq!(values, [BOUND]);
}

#[tokio::test]
async fn formula_factors_beyond_their_bound_are_rejected() {
    let app = spawn_app().await;
    let fx = fixture(&app).await;
    let rate = |coefficient: f64, scale: f64| {
        Call::CreateMetric(derived_metric(
            "custom_rate",
            vec![term("likes", coefficient)],
            vec![term("followers", 1.0)],
            scale,
        ))
    };
    let cases = vec![
        case(
            "huge coefficient",
            rate(1e300, 100.0),
            &["metric_definition.formula.numerator[0].coefficient"],
        ),
        case(
            "huge negative coefficient",
            rate(-1e7, 100.0),
            &["metric_definition.formula.numerator[0].coefficient"],
        ),
        case(
            "huge scale",
            rate(1.0, 1e300),
            &["metric_definition.formula.scale"],
        ),
        case(
            "scale just above a million",
            rate(1.0, 1.000_001e6),
            &["metric_definition.formula.scale"],
        ),
    ];
    expect_rejected(&app, &fx, cases).await;
    run(&app, &fx, rate(-1e6, 1e6))
        .await
        .expect("factors at the bound");
}
