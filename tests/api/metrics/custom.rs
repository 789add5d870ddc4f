//! Custom base and derived metrics: created, read back, refused when
//! their key exists, and created once when a create is retried.

use super::*;

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
