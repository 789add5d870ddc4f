//! The metric catalog in storage: built-in and custom definitions with their
//! formula terms.

use std::collections::{BTreeMap, HashMap};

use sqlx::{PgConnection, PgExecutor, Postgres, QueryBuilder};

use super::aggregate::{Aggregation, Formula, Terms};
use super::model::NewMetric;
use crate::api::enums::ProtoEnum;
use crate::api::filter::Conditions;
use crate::audits::findings::Direction;
use crate::error::{ApiError, ResourceKind};

/// A definition row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MetricRow {
    /// The key.
    pub metric_key: String,
    /// The label.
    pub display_name: String,
    /// What it measures.
    pub description: String,
    /// The unit.
    pub unit: String,
    /// `BASE` or `DERIVED`.
    pub kind: String,
    /// A base metric's aggregation name.
    pub aggregation: Option<String>,
    /// `HIGHER` or `LOWER`.
    pub better: String,
    /// A derived metric's scale.
    pub scale: Option<f64>,
    /// Shipped with goalpost.
    pub builtin: bool,
}

/// A definition with its formula terms.
#[derive(Debug, Clone)]
pub struct MetricRecord {
    /// The definition.
    pub row: MetricRow,
    /// (term key, coefficient) above the bar, in order.
    pub numerator: Terms,
    /// (term key, coefficient) below the bar, in order.
    pub denominator: Terms,
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
        self.row.kind == "BASE"
    }

    /// How the metric is computed.
    pub fn computation(&self) -> Result<Computation, ApiError> {
        if !self.is_base() {
            return Ok(Computation::Derived(Formula {
                numerator: self.numerator.clone(),
                denominator: self.denominator.clone(),
                scale: self.row.scale.unwrap_or(1.0),
            }));
        }
        let aggregation = match self.row.aggregation.as_deref() {
            Some("SUM") => Aggregation::Sum,
            Some("LAST") => Aggregation::Last,
            Some("AVG") => Aggregation::Avg,
            Some("MIN") => Aggregation::Min,
            Some("MAX") => Aggregation::Max,
            other => {
                return Err(ApiError::internal(format!(
                    "metric {} has aggregation {other:?}",
                    self.row.metric_key
                )));
            }
        };
        Ok(Computation::Base(aggregation))
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
        .map(|record| (record.row.metric_key.clone(), record))
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
    Ok(rows
        .into_iter()
        .map(|row| {
            let (numerator, denominator) = by_metric.remove(&row.metric_key).unwrap_or_default();
            MetricRecord {
                row,
                numerator,
                denominator,
            }
        })
        .collect())
}

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
    .await?
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

/// The "better" direction of each of `keys` found in the catalog.
pub async fn directions(
    executor: impl PgExecutor<'_>,
    keys: &[String],
) -> Result<HashMap<String, Direction>, ApiError> {
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
                Direction::Lower
            } else {
                Direction::Higher
            };
            (key, direction)
        })
        .collect())
}
