//! The metric catalog in storage: built-in and custom definitions with their
//! formula terms.

use std::collections::{BTreeMap, HashMap};

use sqlx::{PgConnection, PgExecutor, Postgres, QueryBuilder};

use super::Better;
use super::formula::{Aggregation, Formula, Terms};
use super::model::NewMetric;
use crate::api::enums::ProtoEnum;
use crate::api::filter::Conditions;
use crate::error::{ApiError, ResourceKind};

/// A definition row as stored; decoded into a [`MetricRecord`] at once.
#[derive(Debug, Clone, sqlx::FromRow)]
struct MetricRow {
    metric_key: String,
    display_name: String,
    description: String,
    unit: String,
    kind: String,
    aggregation: Option<String>,
    better: String,
    scale: Option<f64>,
    builtin: bool,
}

/// A metric definition with its formula, enum columns decoded.
#[derive(Debug, Clone)]
pub struct MetricRecord {
    /// The key, which is also the id.
    pub key: String,
    /// The label.
    pub display_name: String,
    /// What it measures.
    pub description: String,
    /// The unit.
    pub unit: String,
    /// Which way the metric improves.
    pub better: Better,
    /// Shipped with goalpost.
    pub builtin: bool,
    /// How its value over a window is computed.
    pub computation: Computation,
}

/// How a metric is computed, as the query engine needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum Computation {
    /// Observed, combined by this aggregation.
    Base(Aggregation),
    /// Computed by this formula over base metrics.
    Derived(Formula),
}

impl MetricRecord {
    /// Whether the metric is observed directly.
    pub fn is_base(&self) -> bool {
        matches!(self.computation, Computation::Base(_))
    }

    /// The base aggregation, for a base metric.
    pub fn aggregation(&self) -> Option<Aggregation> {
        match self.computation {
            Computation::Base(aggregation) => Some(aggregation),
            Computation::Derived(_) => None,
        }
    }

    fn decode(row: MetricRow, numerator: Terms, denominator: Terms) -> Result<Self, ApiError> {
        let corrupt = |what: &str, value: &str| {
            ApiError::internal(format!("metric {} has {what} {value:?}", row.metric_key))
        };
        let better = match row.better.as_str() {
            "HIGHER" => Better::Higher,
            "LOWER" => Better::Lower,
            other => return Err(corrupt("better", other)),
        };
        let computation = match (row.kind.as_str(), row.aggregation.as_deref()) {
            ("DERIVED", _) => Computation::Derived(Formula {
                numerator,
                denominator,
                scale: row.scale.unwrap_or(1.0),
            }),
            ("BASE", Some(name)) => Computation::Base(match name {
                "SUM" => Aggregation::Sum,
                "LAST" => Aggregation::Last,
                "AVG" => Aggregation::Avg,
                "MIN" => Aggregation::Min,
                "MAX" => Aggregation::Max,
                other => return Err(corrupt("aggregation", other)),
            }),
            (other, _) => return Err(corrupt("kind", other)),
        };
        Ok(MetricRecord {
            key: row.metric_key,
            display_name: row.display_name,
            description: row.description,
            unit: row.unit,
            better,
            builtin: row.builtin,
            computation,
        })
    }
}

/// The whole catalog by key: small (tens of rows), read per call so a new
/// custom metric is visible at once on every replica.
pub async fn load_all(conn: &mut PgConnection) -> Result<HashMap<String, MetricRecord>, ApiError> {
    let rows: Vec<MetricRow> = sqlx::query_as("select * from metric_definition")
        .fetch_all(&mut *conn)
        .await?;
    let records = with_terms(conn, rows).await?;
    Ok(records
        .into_iter()
        .map(|record| (record.key.clone(), record))
        .collect())
}

/// One definition.
pub async fn get(conn: &mut PgConnection, key: &str) -> Result<Option<MetricRecord>, ApiError> {
    let row: Option<MetricRow> =
        sqlx::query_as("select * from metric_definition where metric_key = $1")
            .bind(key)
            .fetch_optional(&mut *conn)
            .await?;
    match row {
        Some(row) => Ok(with_terms(conn, vec![row]).await?.pop()),
        None => Ok(None),
    }
}

/// Up to `limit` definitions after key `after`, in key order.
pub async fn list(
    conn: &mut PgConnection,
    conditions: &Conditions,
    after: Option<String>,
    limit: i64,
) -> Result<Vec<MetricRecord>, ApiError> {
    let mut query: QueryBuilder<Postgres> =
        QueryBuilder::new("select * from metric_definition where true");
    conditions.push_to(&mut query);
    if let Some(after) = after {
        query.push(" and metric_key > ").push_bind(after);
    }
    query.push(" order by metric_key limit ").push_bind(limit);
    let rows: Vec<MetricRow> = query.build_query_as().fetch_all(&mut *conn).await?;
    with_terms(conn, rows).await
}

async fn with_terms(
    conn: &mut PgConnection,
    rows: Vec<MetricRow>,
) -> Result<Vec<MetricRecord>, ApiError> {
    let keys: Vec<&str> = rows.iter().map(|row| row.metric_key.as_str()).collect();
    let terms: Vec<(String, String, String, f64)> = sqlx::query_as(
        "select metric_key, side, term_metric_key, coefficient from metric_formula_term
         where metric_key = any($1) order by metric_key, side, position",
    )
    .bind(&keys)
    .fetch_all(&mut *conn)
    .await?;
    let mut by_metric: BTreeMap<String, (Terms, Terms)> = BTreeMap::new();
    for (metric_key, side, term, coefficient) in terms {
        let sides = by_metric.entry(metric_key).or_default();
        if side == "NUMERATOR" {
            &mut sides.0
        } else {
            &mut sides.1
        }
        .push((term, coefficient));
    }
    rows.into_iter()
        .map(|row| {
            let (numerator, denominator) = by_metric.remove(&row.metric_key).unwrap_or_default();
            MetricRecord::decode(row, numerator, denominator)
        })
        .collect()
}

/// PostgreSQL's `sequence_generator_limit_exceeded`.
const SEQUENCE_LIMIT_EXCEEDED: &str = "2200H";

/// Stores a custom definition and its terms.
pub async fn insert(conn: &mut PgConnection, metric: &NewMetric) -> Result<(), ApiError> {
    let inserted = sqlx::query(
        "insert into metric_definition (metric_key, display_name, description, unit, kind, aggregation, better, scale)
         values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict (metric_key) do nothing",
    )
    .bind(&metric.key)
    .bind(&metric.display_name)
    .bind(&metric.description)
    .bind(&metric.unit)
    .bind(metric.kind.db_name())
    .bind(metric.aggregation.map(|aggregation| aggregation.db_name()))
    .bind(metric.better.db_name())
    .bind(metric.formula.as_ref().map(|formula| formula.scale))
    .execute(&mut *conn)
    .await
    .map_err(|error| {
        // Observations carry their metric's number as a smallint.
        let exhausted = error
            .as_database_error()
            .and_then(|error| error.code())
            .is_some_and(|code| code == SEQUENCE_LIMIT_EXCEEDED);
        if exhausted {
            ApiError::ResourceExhausted {
                reason: "METRIC_CATALOG_FULL",
                message: "the catalog holds the most metrics it can number (32,767)".into(),
            }
        } else {
            error.into()
        }
    })?
    .rows_affected();
    if inserted == 0 {
        return Err(ApiError::AlreadyExists {
            kind: ResourceKind::Metric,
            name: format!("metrics/{}", metric.key),
            message: format!("the catalog already has a metric {:?}", metric.key),
        });
    }
    if let Some(formula) = &metric.formula {
        let mut sides = Vec::new();
        let mut positions = Vec::new();
        let mut keys = Vec::new();
        let mut coefficients = Vec::new();
        for (side, terms) in [
            ("NUMERATOR", &formula.numerator),
            ("DENOMINATOR", &formula.denominator),
        ] {
            for (position, (key, coefficient)) in terms.iter().enumerate() {
                sides.push(side);
                positions.push(position as i16);
                keys.push(key.as_str());
                coefficients.push(*coefficient);
            }
        }
        sqlx::query(
            "insert into metric_formula_term (metric_key, side, position, term_metric_key, coefficient)
             select $1, * from unnest($2::text[], $3::int2[], $4::text[], $5::float8[])",
        )
        .bind(&metric.key)
        .bind(&sides)
        .bind(&positions)
        .bind(&keys)
        .bind(&coefficients)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The keys among `keys` that name no metric of the catalog.
pub async fn unknown_keys(
    executor: impl PgExecutor<'_>,
    keys: &[String],
) -> Result<Vec<String>, ApiError> {
    Ok(sqlx::query_scalar(
        "select key from unnest($1::text[]) as wanted(key)
         where not exists (select 1 from metric_definition where metric_key = wanted.key)",
    )
    .bind(keys)
    .fetch_all(executor)
    .await?)
}

/// Which way each of `keys` found in the catalog improves.
pub async fn directions(
    executor: impl PgExecutor<'_>,
    keys: &[String],
) -> Result<HashMap<String, Better>, ApiError> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "select metric_key, better from metric_definition where metric_key = any($1)",
    )
    .bind(keys)
    .fetch_all(executor)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(key, better)| {
            let direction = if better == "LOWER" {
                Better::Lower
            } else {
                Better::Higher
            };
            (key, direction)
        })
        .collect())
}
