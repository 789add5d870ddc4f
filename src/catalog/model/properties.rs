//! Property tests of metric definitions: names parse to exactly one key,
//! and any definition either parses against the catalog or is rejected
//! naming only its bad fields.

use proptest::prelude::*;

use super::*;
use crate::api::fuzzing::{
    around, assert_invalid, assert_storable, enum_number, hostile_f64, sometimes, text_near,
};
use crate::catalog::Better as Direction;
use crate::catalog::formula::Aggregation as Combine;
use crate::catalog::repo::Computation;

/// A catalog of two base metrics and one derived from them.
fn catalog() -> HashMap<String, MetricRecord> {
    let record = |key: &str, computation| MetricRecord {
        key: key.to_owned(),
        display_name: key.to_owned(),
        description: String::new(),
        unit: String::new(),
        better: Direction::Higher,
        builtin: true,
        computation,
    };
    let likes = record("likes", Computation::Base(Combine::Sum));
    let followers = record("followers", Computation::Base(Combine::Last));
    let rate = record(
        "engagement_rate",
        Computation::Derived(Formula {
            numerator: vec![("likes".into(), 1.0)],
            denominator: vec![("followers".into(), 1.0)],
            scale: 100.0,
        }),
    );
    [likes, followers, rate]
        .into_iter()
        .map(|record| (record.key.clone(), record))
        .collect()
}

fn terms() -> impl Strategy<Value = Vec<pb::Term>> {
    let term = (
        text_near(&["likes", "followers", "engagement_rate", "reach"]),
        prop_oneof![1.0..10.0f64, hostile_f64()],
    )
        .prop_map(|(metric_key, coefficient)| pb::Term {
            metric_key,
            coefficient,
        });
    prop::collection::vec(term, 0..4)
}

/// A valid base or derived definition with a few fields replaced by anything.
fn definition() -> impl Strategy<Value = pb::MetricDefinition> {
    let formula = (terms(), terms(), prop_oneof![1.0..1000.0f64, hostile_f64()]).prop_map(
        |(numerator, denominator, scale)| pb::Formula {
            numerator,
            denominator,
            scale,
        },
    );
    (
        any::<bool>(),
        (
            sometimes(text_near(&["custom_reach", "likes", "x"])),
            sometimes(text_near(&["", "Custom reach"])),
            sometimes(text_near(&["", "what it counts\nand how"])),
            sometimes(text_near(&["", "%"])),
        ),
        (
            sometimes(enum_number(2)),
            sometimes(enum_number(5)),
            sometimes(enum_number(2)),
            prop::option::of(formula),
        ),
    )
        .prop_map(|(derived, texts, numbers)| {
            let (key, display_name, description, unit) = texts;
            let (kind, aggregation, better, formula) = numbers;
            pb::MetricDefinition {
                key: key.unwrap_or_else(|| "custom_reach".into()),
                display_name: display_name.unwrap_or_default(),
                description: description.unwrap_or_default(),
                unit: unit.unwrap_or_default(),
                kind: kind.unwrap_or(if derived { 2 } else { 1 }),
                aggregation: aggregation.unwrap_or(if derived { 0 } else { 1 }),
                better: better.unwrap_or(1),
                formula,
                ..Default::default()
            }
        })
}

proptest! {
    #[test]
    fn metric_names_parse_to_exactly_their_key(
        name in around("[a-z][a-z0-9_]{0,70}".prop_map(|key| format!("metrics/{key}"))),
    ) {
        match parse_metric_name("name", &name) {
            Ok(key) => {
                prop_assert!(is_metric_key(&key));
                prop_assert_eq!(format!("metrics/{key}"), name);
            }
            Err(error) => assert_invalid(error, |field| field == "name"),
        }
    }

    #[test]
    fn definitions_parse_against_the_catalog_or_name_their_bad_fields(
        definition in definition(),
    ) {
        let catalog = catalog();
        match NewMetric::parse(Some(&definition), &catalog) {
            Ok(metric) => {
                prop_assert!(is_metric_key(&metric.key));
                assert_storable(&metric.display_name, 100.max(metric.key.len()), Lines::Single);
                assert_storable(&metric.description, 2000, Lines::Multi);
                assert_storable(&metric.unit, 32, Lines::Single);
                prop_assert_eq!(metric.formula.is_some(), metric.kind == Kind::Derived);
                if let Some(formula) = metric.formula {
                    prop_assert!(formula.scale > 0.0 && formula.scale <= MAX_FORMULA_FACTOR);
                    for (key, coefficient) in formula.numerator.iter().chain(&formula.denominator) {
                        prop_assert!(catalog.get(key).is_some_and(MetricRecord::is_base));
                        prop_assert!(*coefficient != 0.0 && coefficient.abs() <= MAX_FORMULA_FACTOR);
                    }
                }
            }
            Err(error) => assert_invalid(error, |field| field.starts_with("metric_definition")),
        }
    }
}
