//! The series a read covers, looked up once and handed to the reads that
//! follow as plain arrays. A read that finds its series itself (a `series`
//! lookup joined into the statement, grouped by metric key) costs PostgreSQL
//! about twice as much to plan and run as one given the ids and a small
//! integer per series naming its base metric, which is what most reads of
//! a selection of accounts are made of.

use sqlx::PgConnection;

use super::evaluate::Selection;
use crate::error::ApiError;

/// The selected series of some base metrics: `ids[i]` belongs to the
/// metric `keys[key_index[i]]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectedSeries {
    /// The series ids.
    pub ids: Vec<i64>,
    /// Each series' base metric, as an index into the keys looked up.
    pub key_index: Vec<i32>,
}

impl SelectedSeries {
    /// The series of `keys` that `selection` covers, in one lookup.
    pub async fn resolve(
        conn: &mut PgConnection,
        keys: &[&str],
        selection: &Selection,
    ) -> Result<SelectedSeries, ApiError> {
        let (all, accounts, organisation) = selection.as_parameters();
        let rows: Vec<(i64, i32)> = sqlx::query_as(
            "select s.series_id, (k.position - 1)::int4
             from unnest($1::text[]) with ordinality as k(metric_key, position)
             join series s on s.metric_key = k.metric_key
             where $2 or s.account_id = any($3) or ($4 and s.account_id is null)
             order by s.series_id",
        )
        .bind(keys)
        .bind(all)
        .bind(accounts)
        .bind(organisation)
        .fetch_all(&mut *conn)
        .await?;
        let (ids, key_index) = rows.into_iter().unzip();
        Ok(SelectedSeries { ids, key_index })
    }

    /// Whether no series is selected: every read would find nothing.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}
