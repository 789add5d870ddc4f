//! The built-in metrics of DESIGN §1, read by name, and names that are
//! not metrics.

use super::*;

/// The built-in base metrics of DESIGN §1: key, aggregation, better.
pub(super) const BUILTIN_BASE: [(&str, Aggregation, Better); 25] = [
    ("impressions", Aggregation::Sum, Better::Higher),
    ("reach", Aggregation::Sum, Better::Higher),
    ("mentions", Aggregation::Sum, Better::Higher),
    ("competitor_mentions", Aggregation::Sum, Better::Higher),
    ("positive_mentions", Aggregation::Sum, Better::Higher),
    ("negative_mentions", Aggregation::Sum, Better::Higher),
    ("shares", Aggregation::Sum, Better::Higher),
    ("likes", Aggregation::Sum, Better::Higher),
    ("comments", Aggregation::Sum, Better::Higher),
    ("clicks", Aggregation::Sum, Better::Higher),
    ("sessions", Aggregation::Sum, Better::Higher),
    ("bounces", Aggregation::Sum, Better::Higher),
    ("conversions", Aggregation::Sum, Better::Higher),
    ("leads", Aggregation::Sum, Better::Higher),
    ("applications", Aggregation::Sum, Better::Higher),
    ("new_followers", Aggregation::Sum, Better::Higher),
    ("promoters", Aggregation::Sum, Better::Higher),
    ("detractors", Aggregation::Sum, Better::Higher),
    ("nps_responses", Aggregation::Sum, Better::Higher),
    ("csat_satisfied", Aggregation::Sum, Better::Higher),
    ("csat_responses", Aggregation::Sum, Better::Higher),
    (
        "service_requests_resolved",
        Aggregation::Sum,
        Better::Higher,
    ),
    ("ad_spend", Aggregation::Sum, Better::Lower),
    ("followers", Aggregation::Last, Better::Higher),
    ("service_reps", Aggregation::Last, Better::Higher),
];

pub(super) type Terms = &'static [(&'static str, f64)];

/// The built-in derived metrics of DESIGN §1: key, numerator, denominator,
/// scale, better.
pub(super) const BUILTIN_DERIVED: [(&str, Terms, Terms, f64, Better); 16] = [
    (
        "engagement_rate",
        &[("likes", 1.0), ("comments", 1.0), ("shares", 1.0)],
        &[("followers", 1.0)],
        100.0,
        Better::Higher,
    ),
    (
        "amplification_rate",
        &[("shares", 1.0)],
        &[("followers", 1.0)],
        100.0,
        Better::Higher,
    ),
    (
        "applause_rate",
        &[("likes", 1.0)],
        &[("followers", 1.0)],
        100.0,
        Better::Higher,
    ),
    (
        "conversation_rate",
        &[("comments", 1.0)],
        &[("followers", 1.0)],
        100.0,
        Better::Higher,
    ),
    (
        "virality_rate",
        &[("shares", 1.0)],
        &[("impressions", 1.0)],
        100.0,
        Better::Higher,
    ),
    (
        "click_through_rate",
        &[("clicks", 1.0)],
        &[("impressions", 1.0)],
        100.0,
        Better::Higher,
    ),
    (
        "conversion_rate",
        &[("conversions", 1.0)],
        &[("clicks", 1.0)],
        100.0,
        Better::Higher,
    ),
    (
        "bounce_rate",
        &[("bounces", 1.0)],
        &[("sessions", 1.0)],
        100.0,
        Better::Lower,
    ),
    (
        "audience_growth_rate",
        &[("new_followers", 1.0)],
        &[("followers", 1.0)],
        100.0,
        Better::Higher,
    ),
    (
        "share_of_voice",
        &[("mentions", 1.0)],
        &[("mentions", 1.0), ("competitor_mentions", 1.0)],
        100.0,
        Better::Higher,
    ),
    (
        "sentiment_score",
        &[("positive_mentions", 1.0)],
        &[("positive_mentions", 1.0), ("negative_mentions", 1.0)],
        100.0,
        Better::Higher,
    ),
    (
        "net_promoter_score",
        &[("promoters", 1.0), ("detractors", -1.0)],
        &[("nps_responses", 1.0)],
        100.0,
        Better::Higher,
    ),
    (
        "customer_satisfaction_score",
        &[("csat_satisfied", 1.0)],
        &[("csat_responses", 1.0)],
        100.0,
        Better::Higher,
    ),
    (
        "cost_per_click",
        &[("ad_spend", 1.0)],
        &[("clicks", 1.0)],
        1.0,
        Better::Lower,
    ),
    (
        "cost_per_mille",
        &[("ad_spend", 1.0)],
        &[("impressions", 1.0)],
        1000.0,
        Better::Lower,
    ),
    (
        "requests_per_rep",
        &[("service_requests_resolved", 1.0)],
        &[("service_reps", 1.0)],
        1.0,
        Better::Higher,
    ),
];

pub(super) fn terms(pairs: Terms) -> Vec<pb::Term> {
    pairs.iter().map(|(key, c)| term(key, *c)).collect()
}

#[tokio::test]
async fn every_builtin_metric_is_in_the_catalog_exactly_as_designed() {
    let app = spawn_app().await;
    let (listed, _) = list_all(&app, "", 1000).await;
    let mut expected_keys: Vec<&str> = BUILTIN_BASE
        .iter()
        .map(|(key, ..)| *key)
        .chain(BUILTIN_DERIVED.iter().map(|(key, ..)| *key))
        .collect();
    expected_keys.sort_unstable();
    assert_eq!(keys(&listed), expected_keys, "exactly the built-in metrics");

    let find = |key: &str| listed.iter().find(|d| d.key == key).unwrap();
    for (key, aggregation, better) in BUILTIN_BASE {
        let definition = find(key);
        assert_eq!(definition.name, format!("metrics/{key}"));
        assert_eq!(definition.kind, Kind::Base as i32, "{key}");
        assert_eq!(definition.aggregation, aggregation as i32, "{key}");
        assert_eq!(definition.better, better as i32, "{key}");
        assert_eq!(definition.formula, None, "{key} is observed, not computed");
        assert!(definition.builtin, "{key}");
        assert!(!definition.display_name.is_empty(), "{key}");
        assert!(!definition.unit.is_empty(), "{key}");
    }
    for (key, numerator, denominator, scale, better) in BUILTIN_DERIVED {
        let definition = find(key);
        assert_eq!(definition.name, format!("metrics/{key}"));
        assert_eq!(definition.kind, Kind::Derived as i32, "{key}");
        assert_eq!(
            definition.aggregation,
            Aggregation::Unspecified as i32,
            "{key} aggregates through its formula"
        );
        assert_eq!(definition.better, better as i32, "{key}");
        assert_eq!(
            definition.formula,
            Some(pb::Formula {
                numerator: terms(numerator),
                denominator: terms(denominator),
                scale,
            }),
            "{key}"
        );
        assert!(definition.builtin, "{key}");
        assert!(!definition.display_name.is_empty(), "{key}");
        assert!(!definition.unit.is_empty(), "{key}");
    }
}

#[tokio::test]
async fn a_builtin_metric_can_be_read_by_name() {
    let app = spawn_app().await;
    let (listed, _) = list_all(&app, "", 1000).await;
    let mut client = metric_client(&app);
    for key in [
        "followers",
        "ad_spend",
        "net_promoter_score",
        "cost_per_mille",
    ] {
        let read = client
            .get_metric_definition(pb::GetMetricDefinitionRequest {
                name: format!("metrics/{key}"),
            })
            .await
            .unwrap_or_else(|e| panic!("{key}: {e:?}"))
            .into_inner();
        let from_list = listed.iter().find(|d| d.key == key).unwrap();
        assert_eq!(&read, from_list, "get and list agree on {key}");
    }
}

#[tokio::test]
async fn unknown_and_malformed_metric_names_get_not_found_and_invalid_argument() {
    let app = spawn_app().await;
    let mut client = metric_client(&app);
    let error = client
        .get_metric_definition(pb::GetMetricDefinitionRequest {
            name: "metrics/nope".into(),
        })
        .await
        .unwrap_err();
    assert_error(&error, Code::NotFound, "METRIC_NOT_FOUND");
    assert!(
        error.message().contains("metrics/nope"),
        "{}",
        error.message()
    );

    for name in [
        "",
        "metrics/",
        "metrics/Bad Key",
        "metrics/1likes",
        "metrics/likes/extra",
        "accounts/x",
        "likes",
    ] {
        let error = client
            .get_metric_definition(pb::GetMetricDefinitionRequest { name: name.into() })
            .await
            .unwrap_err();
        assert_violations(&error, &["name"]);
    }
}
