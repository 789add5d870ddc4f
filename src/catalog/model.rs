//! Custom metric definitions, validated against the catalog.

use std::collections::{HashMap, HashSet};

use super::formula::Formula;
use super::is_metric_key;
use super::repo::MetricRecord;
use crate::api::validate::{self, Lines};
use crate::error::{ApiError, Violations};
use crate::pb;
use crate::pb::metric_definition::{Aggregation, Better, Kind};

#[cfg(test)]
mod properties;

/// The most terms on one side of a formula.
pub const MAX_TERMS_PER_SIDE: usize = 10;
/// The largest magnitude of a formula's coefficients and scale. With values
/// bounded by [`validate::MAX_VALUE_MAGNITUDE`], scale × Σ(coefficient ×
/// value) then stays many orders of magnitude below the largest double.
pub const MAX_FORMULA_FACTOR: f64 = 1e6;

/// Parses `metrics/{metric_key}`.
pub fn parse_metric_name(field: &str, value: &str) -> Result<String, ApiError> {
    match value.strip_prefix("metrics/") {
        Some(key) if is_metric_key(key) => Ok(key.to_owned()),
        _ => Err(ApiError::invalid_field(
            field,
            format!(
                "must be a resource name of the form metrics/{{metric_key}} such as metrics/followers, got {value:?}"
            ),
        )),
    }
}

/// A custom definition, validated against the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMetric {
    /// The key, which is also the id.
    pub key: String,
    /// The label (the key when none was given).
    pub display_name: String,
    /// What it measures.
    pub description: String,
    /// The unit.
    pub unit: String,
    /// Base or derived.
    pub kind: Kind,
    /// A base metric's aggregation.
    pub aggregation: Option<Aggregation>,
    /// Which way is better.
    pub better: Better,
    /// A derived metric's formula.
    pub formula: Option<Formula>,
}

impl NewMetric {
    /// Validates `metric`, reporting every violation under `metric_definition`.
    pub fn parse(
        metric: Option<&pb::MetricDefinition>,
        catalog: &HashMap<String, MetricRecord>,
    ) -> Result<Self, ApiError> {
        let mut violations = Violations::default();
        let Some(metric) = metric else {
            violations.add("metric_definition", "is required");
            return Err(violations.into_error());
        };
        let key = metric.key.trim().to_owned();
        if key.is_empty() {
            violations.add("metric_definition.key", "is required");
        } else if !is_metric_key(&key) {
            violations.add(
                "metric_definition.key",
                "must be 1 to 63 characters: a lowercase letter, then lowercase letters, digits or underscores",
            );
        }
        let display_name = validate::text(
            &mut violations,
            "metric_definition.display_name",
            &metric.display_name,
            100,
            false,
            Lines::Single,
        );
        let description = validate::text(
            &mut violations,
            "metric_definition.description",
            &metric.description,
            2000,
            false,
            Lines::Multi,
        );
        let unit = validate::text(
            &mut violations,
            "metric_definition.unit",
            &metric.unit,
            32,
            false,
            Lines::Single,
        );
        let kind = validate::enum_value::<Kind>(
            &mut violations,
            "metric_definition.kind",
            metric.kind,
            true,
        );
        let better = validate::enum_value::<Better>(
            &mut violations,
            "metric_definition.better",
            metric.better,
            true,
        );
        let aggregation = validate::enum_value::<Aggregation>(
            &mut violations,
            "metric_definition.aggregation",
            metric.aggregation,
            false,
        );

        let mut formula = None;
        match kind {
            Some(Kind::Base) => {
                if metric.aggregation == 0 {
                    violations.add(
                        "metric_definition.aggregation",
                        "is required for a base metric",
                    );
                }
                if metric.formula.is_some() {
                    violations.add(
                        "metric_definition.formula",
                        "must be absent for a base metric, which is observed",
                    );
                }
            }
            Some(Kind::Derived) => {
                if metric.aggregation != 0 {
                    violations.add(
                        "metric_definition.aggregation",
                        "must be AGGREGATION_UNSPECIFIED for a derived metric, which aggregates through its formula",
                    );
                }
                match &metric.formula {
                    None => violations.add(
                        "metric_definition.formula",
                        "is required for a derived metric",
                    ),
                    Some(given) => formula = parse_formula(&mut violations, given, &key, catalog),
                }
            }
            _ => {}
        }
        let display_name = if display_name.is_empty() {
            key.clone()
        } else {
            display_name
        };
        match (kind, better) {
            (Some(kind), Some(better)) if violations.is_empty() => Ok(NewMetric {
                key,
                display_name,
                description,
                unit,
                kind,
                aggregation,
                better,
                formula,
            }),
            _ => Err(violations.into_error()),
        }
    }
}

fn parse_formula(
    violations: &mut Violations,
    formula: &pb::Formula,
    own_key: &str,
    catalog: &HashMap<String, MetricRecord>,
) -> Option<Formula> {
    let mut side = |name: &str, terms: &[pb::Term]| -> Vec<(String, f64)> {
        let field = format!("metric_definition.formula.{name}");
        if terms.is_empty() {
            violations.add(&field, "must hold at least one term");
        }
        if terms.len() > MAX_TERMS_PER_SIDE {
            violations.add(
                &field,
                format!(
                    "holds {} terms, at most {MAX_TERMS_PER_SIDE} are allowed",
                    terms.len()
                ),
            );
        }
        let mut seen = HashSet::new();
        let mut parsed = Vec::with_capacity(terms.len());
        for (index, term) in terms.iter().enumerate() {
            let key_field = format!("{field}[{index}].metric_key");
            let key = term.metric_key.trim();
            if key == own_key {
                violations.add(
                    &key_field,
                    "refers to the metric being defined, which would be a cycle",
                );
            } else {
                match catalog.get(key) {
                    None => violations.add(&key_field, format!("{key:?} is not a metric of the catalog")),
                    Some(record) if !record.is_base() => violations.add(
                        &key_field,
                        format!("{key:?} is a derived metric; terms must be base metrics (derived metrics do not nest)"),
                    ),
                    Some(_) if !seen.insert(key.to_owned()) => {
                        violations.add(&key_field, format!("{key:?} appears twice on this side; merge the coefficients"))
                    }
                    Some(_) => {}
                }
            }
            // NaN fails the comparison too.
            let usable = term.coefficient != 0.0 && term.coefficient.abs() <= MAX_FORMULA_FACTOR;
            if !usable {
                violations.add(
                    format!("{field}[{index}].coefficient"),
                    format!("must be a number other than 0 from -{MAX_FORMULA_FACTOR:e} to {MAX_FORMULA_FACTOR:e}"),
                );
            }
            parsed.push((key.to_owned(), term.coefficient));
        }
        parsed
    };
    let numerator = side("numerator", &formula.numerator);
    let denominator = side("denominator", &formula.denominator);
    if !(formula.scale > 0.0 && formula.scale <= MAX_FORMULA_FACTOR) {
        violations.add(
            "metric_definition.formula.scale",
            format!("must be a number greater than 0 and at most {MAX_FORMULA_FACTOR:e}, such as 100 for a percentage"),
        );
    }
    Some(Formula {
        numerator,
        denominator,
        scale: formula.scale,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_carry_a_key() {
        assert_eq!(
            parse_metric_name("name", "metrics/followers").unwrap(),
            "followers"
        );
        for bad in ["", "metrics/", "metrics/Bad Key", "accounts/x", "followers"] {
            assert!(parse_metric_name("name", bad).is_err(), "{bad}");
        }
    }
}
