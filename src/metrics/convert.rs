//! Stored definitions and observations to their proto form.

use super::catalog::MetricRecord;
use crate::api::enums::from_db;
use crate::error::ApiError;
use crate::pb;
use crate::pb::metric_definition::{Aggregation, Better, Kind};

fn terms(terms: &[(String, f64)]) -> Vec<pb::Term> {
    terms
        .iter()
        .map(|(metric_key, coefficient)| pb::Term {
            metric_key: metric_key.clone(),
            coefficient: *coefficient,
        })
        .collect()
}

impl TryFrom<MetricRecord> for pb::MetricDefinition {
    type Error = ApiError;

    fn try_from(record: MetricRecord) -> Result<Self, ApiError> {
        let kind = from_db::<Kind>(&record.row.kind)?;
        let formula = (kind == Kind::Derived).then(|| pb::Formula {
            numerator: terms(&record.numerator),
            denominator: terms(&record.denominator),
            scale: record.row.scale.unwrap_or(1.0),
        });
        let row = record.row;
        Ok(pb::MetricDefinition {
            name: format!("metrics/{}", row.metric_key),
            key: row.metric_key,
            display_name: row.display_name,
            description: row.description,
            unit: row.unit,
            kind: kind as i32,
            aggregation: row
                .aggregation
                .as_deref()
                .map(from_db::<Aggregation>)
                .transpose()?
                .map_or(0, |a| a as i32),
            better: from_db::<Better>(&row.better)? as i32,
            formula,
            builtin: row.builtin,
        })
    }
}
