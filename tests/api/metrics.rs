//! MetricService catalog methods through real gRPC calls: the built-in
//! metrics of DESIGN §1 and custom base and derived metrics.

use goalpost::pb;
use goalpost::pb::metric_definition::{Aggregation, Better, Kind};
use goalpost::pb::metric_service_client::MetricServiceClient;
use tonic::Code;
use tonic::transport::Channel;

use crate::helpers::{TestApp, assert_error, assert_violations, page_through, spawn_app};

mod catalog_limits;

/// A client of MetricService.
pub fn metric_client(app: &TestApp) -> MetricServiceClient<Channel> {
    MetricServiceClient::new(app.channel.clone())
}

/// A custom base metric aggregating by `aggregation`, higher being better.
pub fn base_metric(key: &str, aggregation: Aggregation) -> pb::MetricDefinition {
    pb::MetricDefinition {
        key: key.to_owned(),
        kind: Kind::Base as i32,
        aggregation: aggregation as i32,
        better: Better::Higher as i32,
        ..Default::default()
    }
}

/// A formula term.
pub fn term(metric_key: &str, coefficient: f64) -> pb::Term {
    pb::Term {
        metric_key: metric_key.to_owned(),
        coefficient,
    }
}

/// A custom derived metric, higher being better.
pub fn derived_metric(
    key: &str,
    numerator: Vec<pb::Term>,
    denominator: Vec<pb::Term>,
    scale: f64,
) -> pb::MetricDefinition {
    pb::MetricDefinition {
        key: key.to_owned(),
        kind: Kind::Derived as i32,
        better: Better::Higher as i32,
        formula: Some(pb::Formula {
            numerator,
            denominator,
            scale,
        }),
        ..Default::default()
    }
}

fn create_request(definition: pb::MetricDefinition) -> pb::CreateMetricDefinitionRequest {
    pb::CreateMetricDefinitionRequest {
        metric_definition: Some(definition),
        request_id: String::new(),
    }
}

/// Creates a custom metric, failing the test if that fails.
pub async fn create_metric(
    app: &TestApp,
    definition: pb::MetricDefinition,
) -> pb::MetricDefinition {
    metric_client(app)
        .create_metric_definition(create_request(definition))
        .await
        .expect("create a metric definition")
        .into_inner()
}

/// Every definition matching `filter`, read `page_size` at a time, and how
/// many pages that took.
async fn list_all(
    app: &TestApp,
    filter: &str,
    page_size: i32,
) -> (Vec<pb::MetricDefinition>, usize) {
    let client = metric_client(app);
    page_through(page_size, |page_token| {
        let mut client = client.clone();
        async move {
            let page = client
                .list_metric_definitions(pb::ListMetricDefinitionsRequest {
                    page_size,
                    page_token,
                    filter: filter.to_owned(),
                })
                .await
                .unwrap_or_else(|e| panic!("list with filter {filter:?}: {e:?}"))
                .into_inner();
            (page.metric_definitions, page.next_page_token)
        }
    })
    .await
}

fn keys(definitions: &[pb::MetricDefinition]) -> Vec<&str> {
    definitions.iter().map(|d| d.key.as_str()).collect()
}

/// The built-in base metrics of DESIGN §1: key, aggregation, better.
const BUILTIN_BASE: [(&str, Aggregation, Better); 25] = [
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

type Terms = &'static [(&'static str, f64)];

/// The built-in derived metrics of DESIGN §1: key, numerator, denominator,
/// scale, better.
const BUILTIN_DERIVED: [(&str, Terms, Terms, f64, Better); 16] = [
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

fn terms(pairs: Terms) -> Vec<pb::Term> {
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

#[tokio::test]
async fn listing_pages_through_the_catalog_in_key_order_once() {
    let app = spawn_app().await;
    // Custom metrics sort in among the built-in ones.
    create_metric(&app, base_metric("aaa_first", Aggregation::Sum)).await;
    create_metric(&app, base_metric("zzz_last", Aggregation::Max)).await;
    let (whole, pages) = list_all(&app, "", 1000).await;
    assert_eq!(pages, 1);
    assert_eq!(whole.len(), 43);

    let (paged, pages) = list_all(&app, "", 7).await;
    assert_eq!(pages, 7, "43 definitions in pages of 7");
    assert_eq!(paged, whole, "every definition once, in the same order");
    let mut sorted = keys(&paged);
    sorted.sort_unstable();
    assert_eq!(keys(&paged), sorted, "ordered by key");
    assert_eq!(paged.first().unwrap().key, "aaa_first");
    assert_eq!(paged.last().unwrap().key, "zzz_last");

    // The default page size is 50, enough for the whole catalog here.
    let (default_paged, pages) = list_all(&app, "", 0).await;
    assert_eq!(pages, 1);
    assert_eq!(default_paged, whole);
}

#[tokio::test]
async fn list_filters_select_derived_and_custom_metrics() {
    let app = spawn_app().await;
    create_metric(&app, base_metric("webinar_signups", Aggregation::Sum)).await;
    create_metric(
        &app,
        derived_metric(
            "signups_per_click",
            vec![term("webinar_signups", 1.0)],
            vec![term("clicks", 1.0)],
            1.0,
        ),
    )
    .await;

    let mut derived: Vec<&str> = BUILTIN_DERIVED.iter().map(|(key, ..)| *key).collect();
    derived.push("signups_per_click");
    derived.sort_unstable();
    let mut builtin_derived: Vec<&str> = BUILTIN_DERIVED.iter().map(|(key, ..)| *key).collect();
    builtin_derived.sort_unstable();
    let mut base: Vec<&str> = BUILTIN_BASE.iter().map(|(key, ..)| *key).collect();
    base.push("webinar_signups");
    base.sort_unstable();

    let cases: [(&str, &str, Vec<&str>); 7] = [
        ("derived without prefix", "kind = DERIVED", derived.clone()),
        (
            "derived with prefix",
            "kind = KIND_DERIVED",
            derived.clone(),
        ),
        ("not derived", "kind != DERIVED", base.clone()),
        (
            "custom base",
            "kind = BASE AND builtin = false",
            vec!["webinar_signups"],
        ),
        (
            "custom",
            "builtin = false",
            vec!["signups_per_click", "webinar_signups"],
        ),
        (
            "built-in derived",
            "kind = DERIVED AND builtin = true",
            builtin_derived,
        ),
        (
            "custom and built-in",
            "builtin = true AND builtin = false",
            vec![],
        ),
    ];
    for (description, filter, expected) in cases {
        let (listed, _) = list_all(&app, filter, 5).await;
        assert_eq!(keys(&listed), expected, "{description}: {filter}");
    }
}

#[tokio::test]
async fn bad_list_requests_say_what_is_supported() {
    let app = spawn_app().await;
    let mut client = metric_client(&app);
    let cases = [
        (
            "negative page size",
            pb::ListMetricDefinitionsRequest {
                page_size: -1,
                ..Default::default()
            },
            "page_size",
        ),
        (
            "or",
            pb::ListMetricDefinitionsRequest {
                filter: "kind = BASE OR kind = DERIVED".into(),
                ..Default::default()
            },
            "filter",
        ),
        (
            "unknown field",
            pb::ListMetricDefinitionsRequest {
                filter: "colour = RED".into(),
                ..Default::default()
            },
            "filter",
        ),
        (
            "unknown enum value",
            pb::ListMetricDefinitionsRequest {
                filter: "kind = RATIO".into(),
                ..Default::default()
            },
            "filter",
        ),
        (
            "not a boolean",
            pb::ListMetricDefinitionsRequest {
                filter: "builtin = maybe".into(),
                ..Default::default()
            },
            "filter",
        ),
        (
            "garbage token",
            pb::ListMetricDefinitionsRequest {
                page_token: "garbage".into(),
                ..Default::default()
            },
            "page_token",
        ),
    ];
    for (description, request, field) in cases {
        let error = client.list_metric_definitions(request).await.unwrap_err();
        assert_violations(&error, &[field]);
        if description == "or" || description == "unknown field" {
            assert!(
                error.message().contains("supported"),
                "{description}: {}",
                error.message()
            );
        }
    }

    // A token only continues the listing it came from.
    let page = client
        .list_metric_definitions(pb::ListMetricDefinitionsRequest {
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let error = client
        .list_metric_definitions(pb::ListMetricDefinitionsRequest {
            page_size: 2,
            page_token: page.next_page_token,
            filter: "kind = DERIVED".into(),
        })
        .await
        .unwrap_err();
    assert_violations(&error, &["page_token"]);
}

#[tokio::test]
async fn a_custom_base_metric_is_created_and_read_back() {
    let app = spawn_app().await;
    let created = create_metric(
        &app,
        pb::MetricDefinition {
            name: "metrics/ignored".into(),
            display_name: "Webinar sign-ups".into(),
            description: "People who registered for a webinar from social.".into(),
            unit: "count".into(),
            builtin: true,
            ..base_metric("webinar_signups", Aggregation::Sum)
        },
    )
    .await;
    assert_eq!(created.name, "metrics/webinar_signups");
    assert_eq!(created.key, "webinar_signups");
    assert_eq!(created.display_name, "Webinar sign-ups");
    assert_eq!(created.unit, "count");
    assert_eq!(created.kind, Kind::Base as i32);
    assert_eq!(created.aggregation, Aggregation::Sum as i32);
    assert_eq!(created.better, Better::Higher as i32);
    assert_eq!(created.formula, None);
    assert!(
        !created.builtin,
        "a created metric is custom whatever it says"
    );

    let read = metric_client(&app)
        .get_metric_definition(pb::GetMetricDefinitionRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, created);

    // Every aggregation is available to custom base metrics.
    for (key, aggregation) in [
        ("queue_length", Aggregation::Last),
        ("response_minutes", Aggregation::Avg),
        ("fastest_response", Aggregation::Min),
        ("peak_viewers", Aggregation::Max),
    ] {
        let created = create_metric(
            &app,
            pb::MetricDefinition {
                better: Better::Lower as i32,
                ..base_metric(key, aggregation)
            },
        )
        .await;
        assert_eq!(created.aggregation, aggregation as i32);
        assert_eq!(created.better, Better::Lower as i32);
        assert_eq!(
            created.display_name, key,
            "the display name defaults to the key"
        );
    }
    assert_eq!(app.count("metric_definition").await, 41 + 5);
}

#[tokio::test]
async fn a_custom_derived_metric_is_created_over_base_metrics() {
    let app = spawn_app().await;
    create_metric(&app, base_metric("webinar_signups", Aggregation::Sum)).await;
    let formula = pb::Formula {
        numerator: vec![
            term("webinar_signups", 1.0),
            term("comments", 0.5),
            term("negative_mentions", -2.0),
        ],
        denominator: vec![term("followers", 1.0), term("impressions", 0.25)],
        scale: 1000.0,
    };
    let created = create_metric(
        &app,
        pb::MetricDefinition {
            better: Better::Lower as i32,
            unit: "per mille".into(),
            formula: Some(formula.clone()),
            ..derived_metric("weighted_buzz", vec![], vec![], 1.0)
        },
    )
    .await;
    assert_eq!(created.name, "metrics/weighted_buzz");
    assert_eq!(created.kind, Kind::Derived as i32);
    assert_eq!(created.aggregation, Aggregation::Unspecified as i32);
    assert_eq!(created.better, Better::Lower as i32);
    assert_eq!(
        created.formula,
        Some(formula),
        "terms keep their order and coefficients"
    );
    assert!(!created.builtin);

    let read = metric_client(&app)
        .get_metric_definition(pb::GetMetricDefinitionRequest {
            name: "metrics/weighted_buzz".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, created);
    let (derived, _) = list_all(&app, "kind = DERIVED AND builtin = false", 0).await;
    assert_eq!(derived, [created]);
}

#[tokio::test]
async fn bad_metric_definitions_are_rejected_with_every_violation_and_nothing_stored() {
    let app = spawn_app().await;
    let good_formula = || pb::Formula {
        numerator: vec![term("likes", 1.0)],
        denominator: vec![term("followers", 1.0)],
        scale: 100.0,
    };
    let derived = |formula: pb::Formula| pb::MetricDefinition {
        formula: Some(formula),
        ..derived_metric("custom_rate", vec![], vec![], 1.0)
    };
    let base = || base_metric("custom_count", Aggregation::Sum);
    let eleven_terms: Vec<pb::Term> = BUILTIN_BASE[..11]
        .iter()
        .map(|(key, ..)| term(key, 1.0))
        .collect();

    let cases: Vec<(&str, pb::MetricDefinition, Vec<&str>)> = vec![
        (
            "empty key",
            pb::MetricDefinition {
                key: String::new(),
                ..base()
            },
            vec!["metric_definition.key"],
        ),
        (
            "key with a space and capitals",
            pb::MetricDefinition {
                key: "Bad Key".into(),
                ..base()
            },
            vec!["metric_definition.key"],
        ),
        (
            "key starting with a digit",
            pb::MetricDefinition {
                key: "1st_count".into(),
                ..base()
            },
            vec!["metric_definition.key"],
        ),
        (
            "key with a hyphen",
            pb::MetricDefinition {
                key: "custom-count".into(),
                ..base()
            },
            vec!["metric_definition.key"],
        ),
        (
            "key of 64 characters",
            pb::MetricDefinition {
                key: "k".repeat(64),
                ..base()
            },
            vec!["metric_definition.key"],
        ),
        (
            "kind missing",
            pb::MetricDefinition {
                kind: Kind::Unspecified as i32,
                ..base()
            },
            vec!["metric_definition.kind"],
        ),
        (
            "unknown kind number",
            pb::MetricDefinition { kind: 9, ..base() },
            vec!["metric_definition.kind"],
        ),
        (
            "base metric without aggregation",
            pb::MetricDefinition {
                aggregation: Aggregation::Unspecified as i32,
                ..base()
            },
            vec!["metric_definition.aggregation"],
        ),
        (
            "unknown aggregation number",
            pb::MetricDefinition {
                aggregation: 42,
                ..base()
            },
            vec!["metric_definition.aggregation"],
        ),
        (
            "better missing",
            pb::MetricDefinition {
                better: Better::Unspecified as i32,
                ..base()
            },
            vec!["metric_definition.better"],
        ),
        (
            "unknown better number",
            pb::MetricDefinition {
                better: 3,
                ..base()
            },
            vec!["metric_definition.better"],
        ),
        (
            "base metric with a formula",
            pb::MetricDefinition {
                formula: Some(good_formula()),
                ..base()
            },
            vec!["metric_definition.formula"],
        ),
        (
            "over-long display name, description and unit",
            pb::MetricDefinition {
                display_name: "d".repeat(101),
                description: "d".repeat(2001),
                unit: "u".repeat(33),
                ..base()
            },
            vec![
                "metric_definition.display_name",
                "metric_definition.description",
                "metric_definition.unit",
            ],
        ),
        (
            "derived metric with an aggregation",
            pb::MetricDefinition {
                aggregation: Aggregation::Sum as i32,
                ..derived(good_formula())
            },
            vec!["metric_definition.aggregation"],
        ),
        (
            "derived metric without a formula",
            pb::MetricDefinition {
                formula: None,
                ..derived(good_formula())
            },
            vec!["metric_definition.formula"],
        ),
        (
            "empty numerator and denominator",
            derived(pb::Formula {
                numerator: vec![],
                denominator: vec![],
                scale: 100.0,
            }),
            vec![
                "metric_definition.formula.numerator",
                "metric_definition.formula.denominator",
            ],
        ),
        (
            "empty denominator",
            derived(pb::Formula {
                denominator: vec![],
                ..good_formula()
            }),
            vec!["metric_definition.formula.denominator"],
        ),
        (
            "more than ten terms",
            derived(pb::Formula {
                numerator: eleven_terms,
                ..good_formula()
            }),
            vec!["metric_definition.formula.numerator"],
        ),
        (
            "term without a metric key",
            derived(pb::Formula {
                numerator: vec![term("", 1.0)],
                ..good_formula()
            }),
            vec!["metric_definition.formula.numerator[0].metric_key"],
        ),
        (
            "term naming an unknown metric",
            derived(pb::Formula {
                numerator: vec![term("likes", 1.0), term("vibes", 1.0)],
                ..good_formula()
            }),
            vec!["metric_definition.formula.numerator[1].metric_key"],
        ),
        (
            "term naming a derived metric: no nesting",
            derived(pb::Formula {
                numerator: vec![term("engagement_rate", 1.0)],
                ..good_formula()
            }),
            vec!["metric_definition.formula.numerator[0].metric_key"],
        ),
        (
            "term naming the metric itself: a cycle",
            derived(pb::Formula {
                denominator: vec![term("followers", 1.0), term("custom_rate", 1.0)],
                ..good_formula()
            }),
            vec!["metric_definition.formula.denominator[1].metric_key"],
        ),
        (
            "the same metric twice on one side",
            derived(pb::Formula {
                numerator: vec![term("likes", 1.0), term("likes", 2.0)],
                ..good_formula()
            }),
            vec!["metric_definition.formula.numerator[1].metric_key"],
        ),
        (
            "zero and non-finite coefficients",
            derived(pb::Formula {
                numerator: vec![
                    term("likes", 1.0),
                    term("comments", 0.0),
                    term("shares", f64::NAN),
                ],
                denominator: vec![term("followers", f64::INFINITY)],
                scale: 100.0,
            }),
            vec![
                "metric_definition.formula.numerator[1].coefficient",
                "metric_definition.formula.numerator[2].coefficient",
                "metric_definition.formula.denominator[0].coefficient",
            ],
        ),
        (
            "zero scale",
            derived(pb::Formula {
                scale: 0.0,
                ..good_formula()
            }),
            vec!["metric_definition.formula.scale"],
        ),
        (
            "negative scale",
            derived(pb::Formula {
                scale: -100.0,
                ..good_formula()
            }),
            vec!["metric_definition.formula.scale"],
        ),
        (
            "non-finite scale",
            derived(pb::Formula {
                scale: f64::INFINITY,
                ..good_formula()
            }),
            vec!["metric_definition.formula.scale"],
        ),
        (
            "not-a-number scale",
            derived(pb::Formula {
                scale: f64::NAN,
                ..good_formula()
            }),
            vec!["metric_definition.formula.scale"],
        ),
        (
            "several problems at once",
            pb::MetricDefinition {
                key: "Bad".into(),
                better: 7,
                formula: Some(pb::Formula {
                    numerator: vec![term("vibes", 0.0)],
                    denominator: vec![],
                    scale: -2.0,
                }),
                ..derived(good_formula())
            },
            vec![
                "metric_definition.key",
                "metric_definition.better",
                "metric_definition.formula.numerator[0].metric_key",
                "metric_definition.formula.numerator[0].coefficient",
                "metric_definition.formula.denominator",
                "metric_definition.formula.scale",
            ],
        ),
    ];
    let mut client = metric_client(&app);
    for (description, bad, fields) in cases {
        let error = client
            .create_metric_definition(create_request(bad))
            .await
            .expect_err(description);
        assert_violations(&error, &fields);
        assert_eq!(
            app.count("metric_definition").await,
            41,
            "{description} stored something"
        );
        assert_eq!(
            app.count("metric_formula_term").await,
            37,
            "{description} stored formula terms"
        );
    }

    let error = client
        .create_metric_definition(pb::CreateMetricDefinitionRequest {
            metric_definition: Some(base()),
            request_id: "not-a-uuid".into(),
        })
        .await
        .unwrap_err();
    assert_violations(&error, &["request_id"]);

    let error = client
        .create_metric_definition(pb::CreateMetricDefinitionRequest {
            metric_definition: None,
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument, "{error:?}");
    assert_eq!(app.count("metric_definition").await, 41);
}

#[tokio::test]
async fn a_key_already_in_the_catalog_already_exists() {
    let app = spawn_app().await;
    let mut client = metric_client(&app);
    let error = client
        .create_metric_definition(create_request(base_metric("followers", Aggregation::Sum)))
        .await
        .unwrap_err();
    assert_error(&error, Code::AlreadyExists, "METRIC_ALREADY_EXISTS");
    let error = client
        .create_metric_definition(create_request(derived_metric(
            "engagement_rate",
            vec![term("likes", 1.0)],
            vec![term("followers", 1.0)],
            100.0,
        )))
        .await
        .unwrap_err();
    assert_error(&error, Code::AlreadyExists, "METRIC_ALREADY_EXISTS");

    let first = create_metric(&app, base_metric("webinar_signups", Aggregation::Sum)).await;
    let error = client
        .create_metric_definition(create_request(base_metric(
            "webinar_signups",
            Aggregation::Max,
        )))
        .await
        .unwrap_err();
    assert_error(&error, Code::AlreadyExists, "METRIC_ALREADY_EXISTS");
    let read = client
        .get_metric_definition(pb::GetMetricDefinitionRequest {
            name: "metrics/webinar_signups".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, first, "the first definition stands");
    assert_eq!(app.count("metric_definition").await, 42);
}

#[tokio::test]
async fn a_retried_create_with_the_same_request_id_returns_the_first_definition() {
    let app = spawn_app().await;
    let mut client = metric_client(&app);
    let request = pb::CreateMetricDefinitionRequest {
        metric_definition: Some(derived_metric(
            "likes_per_click",
            vec![term("likes", 1.0)],
            vec![term("clicks", 1.0)],
            1.0,
        )),
        request_id: uuid::Uuid::new_v4().to_string(),
    };
    let first = client
        .create_metric_definition(request.clone())
        .await
        .unwrap()
        .into_inner();
    let retried = client
        .create_metric_definition(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first, retried);
    assert_eq!(app.count("metric_definition").await, 42);
    assert_eq!(app.count("metric_formula_term").await, 37 + 2);

    // Reusing the id for something else is a client bug worth reporting.
    let reused = pb::CreateMetricDefinitionRequest {
        metric_definition: Some(base_metric("other_count", Aggregation::Sum)),
        ..request
    };
    let error = client.create_metric_definition(reused).await.unwrap_err();
    assert_violations(&error, &["request_id"]);
    assert_eq!(app.count("metric_definition").await, 42);
}
