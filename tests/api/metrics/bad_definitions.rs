//! Bad metric definitions: every violation named, nothing stored.

use super::builtin::BUILTIN_BASE;
use super::*;

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
