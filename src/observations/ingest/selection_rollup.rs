//! Keeping the selection rollups (see [`crate::observations::selections`])
//! in step with a load, in its transaction, after the per-series rollups
//! they are made of: fresh values are added to the days of every
//! registered selection their series belongs to, and days where values
//! were replaced are recomputed from the per-series rollups.
//!
//! Both run after the load has written `observation_daily`, so it holds the
//! lock a registration waits for: a selection registered before this load
//! wrote is seen here, and one registered after it waits for this load to
//! commit and fills its rollups with what the load wrote.

use std::sync::LazyLock;

use sqlx::PgConnection;

use super::rollup::ADD_COMPOSABLE;
use crate::observations::selections::ORGANISATION_MEMBER;

/// The registered selections of each delta's series, as a join.
fn members_of(series: &str) -> String {
    format!(
        "join rollup_selection_member m
             on m.metric_id = {series}.metric_id
            and m.account_id = coalesce({series}.account_id, {ORGANISATION_MEMBER})"
    )
}

/// Adds the session's deltas to the selections' rollups, in key order (so
/// two loads lock shared rows in one order).
static ADD_DELTAS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "insert into observation_daily_selection as g
             (selection_id, day, value_sum, value_count, value_min, value_max,
              last_observed_at, first_observed_at)
         select m.selection_id, x.day, sum(x.value_sum), sum(x.value_count), min(x.value_min),
                max(x.value_max), max(x.last_observed_at), min(x.first_observed_at)
         from observation_daily_delta x
         join series s using (series_id)
         {}
         group by m.selection_id, x.day
         order by m.selection_id, x.day
         on conflict (selection_id, day) do update set {ADD_COMPOSABLE}",
        members_of("s")
    )
});

/// The (selection, day) pairs holding a day where values were replaced.
fn replaced_selection_days() -> String {
    format!(
        "select distinct m.selection_id, r.day
         from observation_replaced_day r
         join series s using (series_id)
         {}",
        members_of("s")
    )
}

/// Recomputes the selections' rollups of the days where values were
/// replaced, from the (already recomputed) per-series rollups. The rows are
/// locked first and read in a later statement, so a concurrent load's
/// delta is either committed before the read (and seen) or added after
/// this transaction commits. A replaced value's day already had a rollup
/// when the selection was registered or since, so every such row exists.
static RECOMPUTE_REPLACED_DAYS: LazyLock<[String; 2]> = LazyLock::new(|| {
    let days = replaced_selection_days();
    [
        format!(
            "select 1 from observation_daily_selection g
             join ({days}) r using (selection_id, day)
             order by g.selection_id, g.day for update of g"
        ),
        format!(
            "insert into observation_daily_selection as g
                 (selection_id, day, value_sum, value_count, value_min, value_max,
                  last_observed_at, first_observed_at)
             select r.selection_id, r.day, sum(d.value_sum), sum(d.value_count),
                    min(d.value_min), max(d.value_max), max(d.last_observed_at),
                    min(d.first_observed_at)
             from ({days}) r
             join rollup_selection_member m using (selection_id)
             join metric_definition md on md.metric_id = m.metric_id
             join series s on s.metric_key = md.metric_key
                 and coalesce(s.account_id, {ORGANISATION_MEMBER}) = m.account_id
             join observation_daily d on d.series_id = s.series_id and d.day = r.day
             group by r.selection_id, r.day
             order by r.selection_id, r.day
             on conflict (selection_id, day) do update set
                 value_sum = excluded.value_sum, value_count = excluded.value_count,
                 value_min = excluded.value_min, value_max = excluded.value_max,
                 last_observed_at = excluded.last_observed_at,
                 first_observed_at = excluded.first_observed_at"
        ),
    ]
});

/// Adds the session's deltas (already merged into `observation_daily`) to
/// the selections' rollups.
pub(super) async fn add_deltas(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query(ADD_DELTAS.as_str()).execute(&mut *conn).await?;
    Ok(())
}

/// Recomputes the selections' rollups of the replaced days (already
/// recomputed in `observation_daily`).
pub(super) async fn recompute_replaced_days(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    for statement in RECOMPUTE_REPLACED_DAYS.iter() {
        sqlx::query(statement).execute(&mut *conn).await?;
    }
    Ok(())
}
