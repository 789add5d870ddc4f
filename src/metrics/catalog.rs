//! Lookups in the metric catalog that other resources need.

use std::collections::HashMap;

use sqlx::PgExecutor;

use crate::audits::findings::Direction;
use crate::error::ApiError;

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
