//! Metric values by day: the views over the daily rollups against
//! QueryMetric's DAY buckets for the same metric and accounts.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use goalpost::pb;
use goalpost::pb::metric_definition::Aggregation;
use sqlx::{PgConnection, Row};

use super::{Seed, seed};
use crate::helpers::{TestApp, spawn_app};
use crate::metrics::{base_metric, create_metric, derived_metric, metric_client, term};
use crate::progress::{assert_close, at, observe};
use crate::reporting::TestRole;

/// A derived row without a value: account name, day, value, numerator and
/// denominator.
type Gap = (
    Option<String>,
    NaiveDate,
    Option<f64>,
    Option<f64>,
    Option<f64>,
);

const START: &str = "2026-09-14T00:00:00Z";
const END: &str = "2026-10-06T00:00:00Z";

/// Observations with every case the formulas distinguish: several a day
/// (SUM adds them, LAST takes the latest, AVG their mean), a zero
/// denominator, a day with only a numerator term and one with only a
/// denominator term, and the organisation-wide series. The audit in the seed
/// adds followers on its day. Also a custom AVG metric and a derived metric
/// over it with a negative coefficient.
async fn observe_everything(app: &TestApp, seed: &Seed) {
    create_metric(app, base_metric("mood", Aggregation::Avg)).await;
    create_metric(
        app,
        derived_metric(
            "mood_index",
            vec![term("mood", 1.0), term("comments", -1.0)],
            vec![term("followers", 1.0)],
            10.0,
        ),
    )
    .await;
    let ig = seed.instagram.name.as_str();
    let li = seed.linkedin.name.as_str();
    observe(
        app,
        &[
            ("likes", ig, "2026-10-01T09:00:00Z", 100.0),
            ("likes", ig, "2026-10-01T18:00:00Z", 50.0),
            ("comments", ig, "2026-10-01T12:00:00Z", 10.0),
            ("followers", ig, "2026-10-01T08:00:00Z", 1000.0),
            ("followers", ig, "2026-10-01T20:00:00Z", 1010.0),
            ("mood", ig, "2026-10-01T09:00:00Z", 4.0),
            ("mood", ig, "2026-10-01T10:00:00Z", 2.0),
            ("likes", ig, "2026-10-02T09:00:00Z", 70.0),
            ("shares", ig, "2026-10-02T09:00:00Z", 5.0),
            ("followers", ig, "2026-10-02T23:59:59Z", 1020.0),
            ("likes", li, "2026-10-01T09:00:00Z", 30.0),
            ("followers", li, "2026-10-01T09:00:00Z", 0.0),
            ("likes", li, "2026-10-02T09:00:00Z", 20.0),
            ("likes", "", "2026-10-02T10:00:00Z", 5.0),
            ("followers", "", "2026-10-03T00:00:00Z", 50.0),
            ("mood", "", "2026-10-03T00:00:00Z", 7.0),
        ],
    )
    .await;
}

/// QueryMetric's DAY buckets that hold a value, by day.
async fn buckets(app: &TestApp, metric_key: &str, accounts: &[&str]) -> BTreeMap<NaiveDate, f64> {
    let response = metric_client(app)
        .query_metric(pb::QueryMetricRequest {
            metric_key: metric_key.to_owned(),
            accounts: accounts
                .iter()
                .map(|account| (*account).to_owned())
                .collect(),
            start: Some(at(START)),
            end: Some(at(END)),
            interval: pb::Interval::Day as i32,
        })
        .await
        .expect("query the metric")
        .into_inner();
    response
        .buckets
        .iter()
        .filter_map(|bucket| {
            let start = super::time(&bucket.start).unwrap().date_naive();
            bucket.value.map(|value| (start, value))
        })
        .collect()
}

/// The view's values by day for one metric and account (`""`: the
/// organisation-wide series; `None`: every account, from the
/// `_all_accounts` view), rows without a value left out.
async fn view_values(
    reader: &mut PgConnection,
    view: &str,
    metric_key: &str,
    account: Option<&str>,
) -> BTreeMap<NaiveDate, f64> {
    let rows = match account {
        Some(account) => {
            let query = format!(
                "select day, value from reporting.{view}
                 where metric_key = $1 and account_name is not distinct from $2 and value is not null"
            );
            sqlx::query(&query)
                .bind(metric_key)
                .bind(Some(account).filter(|account| !account.is_empty()))
                .fetch_all(&mut *reader)
                .await
        }
        None => {
            let query = format!(
                "select day, value from reporting.{view}_all_accounts
                 where metric_key = $1 and value is not null"
            );
            sqlx::query(&query).bind(metric_key).fetch_all(&mut *reader).await
        }
    }
    .expect("read the view as the reporting role");
    let start = super::time(&Some(at(START))).unwrap().date_naive();
    let end = super::time(&Some(at(END))).unwrap().date_naive();
    rows.iter()
        .map(|row| (row.get::<NaiveDate, _>("day"), row.get::<f64, _>("value")))
        .filter(|(day, _)| (start..end).contains(day))
        .collect()
}

/// Compares the view with QueryMetric for every selection; returns how many
/// values were compared.
async fn compare(
    app: &TestApp,
    reader: &mut PgConnection,
    seed: &Seed,
    view: &str,
    metric_key: &str,
) -> usize {
    let selections: [Option<&str>; 5] = [
        Some(seed.instagram.name.as_str()),
        Some(seed.linkedin.name.as_str()),
        Some(seed.impostor.name.as_str()),
        Some(""),
        None,
    ];
    let mut compared = 0;
    for account in selections {
        let accounts: Vec<&str> = account.into_iter().collect();
        let expected = buckets(app, metric_key, &accounts).await;
        let found = view_values(reader, view, metric_key, account).await;
        let what = format!("{view} {metric_key} for {account:?}");
        assert_eq!(
            found.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{what}: days with a value"
        );
        for (day, value) in &expected {
            assert_close(found[day], *value, &format!("{what} on {day}"));
            compared += 1;
        }
    }
    compared
}

#[tokio::test]
async fn daily_observation_views_match_query_metric_day_buckets() {
    let app = spawn_app().await;
    let seed = seed(&app).await;
    observe_everything(&app, &seed).await;
    let role = TestRole::new(&app, "gp_bi_daily_");
    role.grant().await.unwrap();
    let mut reader = role.connect().await;

    let mut compared = 0;
    for metric_key in ["likes", "comments", "shares", "followers", "mood"] {
        compared += compare(&app, &mut reader, &seed, "observations_daily", metric_key).await;
    }
    assert!(compared >= 20, "only {compared} values compared");

    // The aggregation's parts are there too, for re-aggregating by week.
    let row = sqlx::query(
        "select value, value_sum, value_count, last_value, aggregation from reporting.observations_daily
         where metric_key = 'followers' and account_name = $1 and day = '2026-10-01'",
    )
    .bind(&seed.instagram.name)
    .fetch_one(&mut reader)
    .await
    .unwrap();
    assert_eq!(row.get::<String, _>("aggregation"), "LAST");
    assert_eq!(row.get::<f64, _>("value"), 1010.0);
    assert_eq!(row.get::<f64, _>("value_sum"), 2010.0);
    assert_eq!(row.get::<i64, _>("value_count"), 2);
}

#[tokio::test]
async fn derived_metric_views_match_query_metric_of_the_derived_metric() {
    let app = spawn_app().await;
    let seed = seed(&app).await;
    observe_everything(&app, &seed).await;
    let role = TestRole::new(&app, "gp_bi_derived_");
    role.grant().await.unwrap();
    let mut reader = role.connect().await;

    let mut compared = 0;
    for metric_key in [
        "engagement_rate",
        "applause_rate",
        "mood_index",
        "net_promoter_score",
    ] {
        compared += compare(
            &app,
            &mut reader,
            &seed,
            "derived_metrics_daily",
            metric_key,
        )
        .await;
    }
    assert!(compared >= 10, "only {compared} values compared");

    // No data is a row without a value, never a silent 0: a zero
    // denominator, and a side whose terms were not observed that day.
    let gaps: Vec<Gap> = sqlx::query_as(
        "select account_name, day, value, numerator, denominator from reporting.derived_metrics_daily
         where metric_key = 'engagement_rate' and value is null order by day, account_name",
    )
    .fetch_all(&mut reader)
    .await
    .unwrap();
    let date = |text: &str| text.parse::<NaiveDate>().unwrap();
    let li = Some(seed.linkedin.name.clone());
    assert!(
        gaps.contains(&(li.clone(), date("2026-10-01"), None, Some(30.0), Some(0.0))),
        "{gaps:?}"
    );
    assert!(
        gaps.contains(&(li, date("2026-10-02"), None, Some(20.0), None)),
        "{gaps:?}"
    );
    assert!(
        gaps.contains(&(None, date("2026-10-03"), None, None, Some(50.0))),
        "{gaps:?}"
    );
}
