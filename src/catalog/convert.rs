//! Catalog definitions to their proto form.

use super::Better;
use super::formula::Aggregation;
use super::repo::{Computation, MetricRecord};
use crate::pb;
use crate::pb::metric_definition as definition;

fn terms(terms: &[(String, f64)]) -> Vec<pb::Term> {
    terms
        .iter()
        .map(|(metric_key, coefficient)| pb::Term {
            metric_key: metric_key.clone(),
            coefficient: *coefficient,
        })
        .collect()
}

impl From<MetricRecord> for pb::MetricDefinition {
    fn from(record: MetricRecord) -> Self {
        let (kind, aggregation, formula) = match &record.computation {
            Computation::Base(aggregation) => (
                definition::Kind::Base,
                match aggregation {
                    Aggregation::Sum => definition::Aggregation::Sum,
                    Aggregation::Last => definition::Aggregation::Last,
                    Aggregation::Avg => definition::Aggregation::Avg,
                    Aggregation::Min => definition::Aggregation::Min,
                    Aggregation::Max => definition::Aggregation::Max,
                },
                None,
            ),
            Computation::Derived(formula) => (
                definition::Kind::Derived,
                definition::Aggregation::Unspecified,
                Some(pb::Formula {
                    numerator: terms(&formula.numerator),
                    denominator: terms(&formula.denominator),
                    scale: formula.scale,
                }),
            ),
        };
        pb::MetricDefinition {
            name: format!("metrics/{}", record.key),
            key: record.key,
            display_name: record.display_name,
            description: record.description,
            unit: record.unit,
            kind: kind as i32,
            aggregation: aggregation as i32,
            better: match record.better {
                Better::Higher => definition::Better::Higher,
                Better::Lower => definition::Better::Lower,
            } as i32,
            formula,
            builtin: record.builtin,
        }
    }
}
