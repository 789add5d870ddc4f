//! Mirrors the goal-type catalog, defined in Rust (`goals::catalog`), into the
//! `goal_type`, `goal_type_metric` and `goal_type_milestone` tables that the
//! `reporting.goal_types*` views read, so BI tools can join it without the
//! catalog being copied into SQL by hand.

use sqlx::PgPool;

use crate::goals::catalog::{self, GoalTypeInfo};

/// Held while the catalog is written, so replicas starting together write it
/// one after the other instead of racing on the same rows.
const SYNC_LOCK: i64 = 0x676f_616c_7479_7065; // "goaltype"

/// Writes the goal-type catalog into its tables: rows that already match are
/// left alone (a restart writes nothing), changed ones are updated, ones the
/// catalog no longer has are deleted. Safe to run from several replicas at
/// once; the last to commit leaves the tables matching its catalog.
pub async fn sync_goal_types(pool: &PgPool) -> Result<(), sqlx::Error> {
    let types = catalog::all();
    let rows = CatalogRows::from(types.as_slice());
    let mut transaction = pool.begin().await?;
    sqlx::query("select pg_advisory_xact_lock($1)")
        .bind(SYNC_LOCK)
        .execute(&mut *transaction)
        .await?;

    sqlx::query(
        "insert into goal_type (goal_type, position, display_name, description, milestone_based)
         select * from unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::bool[])
         on conflict (goal_type) do update
         set position = excluded.position, display_name = excluded.display_name,
             description = excluded.description, milestone_based = excluded.milestone_based
         where (goal_type.position, goal_type.display_name, goal_type.description,
                goal_type.milestone_based)
               is distinct from (excluded.position, excluded.display_name,
                                 excluded.description, excluded.milestone_based)",
    )
    .bind(&rows.type_names)
    .bind(&rows.type_positions)
    .bind(&rows.display_names)
    .bind(&rows.descriptions)
    .bind(&rows.milestone_based)
    .execute(&mut *transaction)
    .await?;
    // Their metrics and milestones go with them (on delete cascade).
    sqlx::query("delete from goal_type where goal_type <> all($1::text[])")
        .bind(&rows.type_names)
        .execute(&mut *transaction)
        .await?;

    rows.metrics
        .sync(
            &mut transaction,
            "delete from goal_type_metric m
             where not exists (
                 select 1 from unnest($1::text[], $2::int[], $3::text[]) as c (goal_type, position, metric_key)
                 where (c.goal_type, c.position, c.metric_key) = (m.goal_type, m.position, m.metric_key)
             )",
            "insert into goal_type_metric (goal_type, position, metric_key)
             select * from unnest($1::text[], $2::int[], $3::text[])
             on conflict (goal_type, position) do nothing",
        )
        .await?;
    rows.milestones
        .sync(
            &mut transaction,
            "delete from goal_type_milestone m
             where not exists (
                 select 1 from unnest($1::text[], $2::int[], $3::text[]) as c (goal_type, position, title)
                 where (c.goal_type, c.position, c.title) = (m.goal_type, m.position, m.title)
             )",
            "insert into goal_type_milestone (goal_type, position, title)
             select * from unnest($1::text[], $2::int[], $3::text[])
             on conflict (goal_type, position) do nothing",
        )
        .await?;
    transaction.commit().await
}

/// The catalog as columns, ready to bind as arrays.
#[derive(Debug, Default, PartialEq)]
struct CatalogRows {
    type_names: Vec<&'static str>,
    type_positions: Vec<i32>,
    display_names: Vec<&'static str>,
    descriptions: Vec<&'static str>,
    milestone_based: Vec<bool>,
    /// Each type's recommended metrics.
    metrics: ListRows,
    /// Each type's suggested milestones.
    milestones: ListRows,
}

/// A per-type list as columns: a row is its (type, position) key and its
/// value.
#[derive(Debug, Default, PartialEq)]
struct ListRows {
    types: Vec<&'static str>,
    positions: Vec<i32>,
    values: Vec<&'static str>,
}

impl ListRows {
    fn push(&mut self, goal_type: &'static str, values: &[&'static str]) {
        for (position, value) in (0..).zip(values) {
            self.types.push(goal_type);
            self.positions.push(position);
            self.values.push(value);
        }
    }

    /// Deletes the stored rows that differ from these (`delete`), then adds
    /// the missing ones (`insert`); both take the three columns as arrays.
    async fn sync(
        &self,
        transaction: &mut sqlx::PgConnection,
        delete: &'static str,
        insert: &'static str,
    ) -> Result<(), sqlx::Error> {
        for statement in [delete, insert] {
            sqlx::query(statement)
                .bind(&self.types)
                .bind(&self.positions)
                .bind(&self.values)
                .execute(&mut *transaction)
                .await?;
        }
        Ok(())
    }
}

impl From<&[GoalTypeInfo]> for CatalogRows {
    fn from(types: &[GoalTypeInfo]) -> Self {
        let mut rows = CatalogRows::default();
        for (position, info) in (0..).zip(types) {
            let name = info.goal_type.as_db();
            rows.type_names.push(name);
            rows.type_positions.push(position);
            rows.display_names.push(info.display_name);
            rows.descriptions.push(info.description);
            rows.milestone_based.push(info.milestone_based);
            rows.metrics.push(name, info.recommended_metric_keys);
            rows.milestones.push(name, info.suggested_milestones);
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_entry_becomes_one_row_in_catalog_order() {
        let types = catalog::all();
        let rows = CatalogRows::from(types.as_slice());
        assert_eq!(rows.type_names.len(), 10);
        assert_eq!(rows.type_positions, (0..10).collect::<Vec<i32>>());
        assert_eq!(rows.type_names[0], "BRAND_AWARENESS");
        let recommended: usize = types.iter().map(|t| t.recommended_metric_keys.len()).sum();
        assert_eq!(rows.metrics.values.len(), recommended);
        assert_eq!(rows.metrics.types.len(), recommended);
        let crisis: Vec<&str> = (0..rows.milestones.types.len())
            .filter(|&i| rows.milestones.types[i] == "CRISIS_MANAGEMENT")
            .map(|i| rows.milestones.values[i])
            .collect();
        assert_eq!(crisis.len(), 3, "{crisis:?}");
    }
}
