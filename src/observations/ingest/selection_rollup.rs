//! Writing the selection rollups (see [`crate::observations::selections`]):
//! filling a new selection's from the per-series rollups they are made of,
//! and keeping them in step with a load, in its transaction, after the
//! per-series rollups: fresh values are added to the days of every
//! registered selection their series belongs to, and days where values
//! were replaced are recomputed from the per-series rollups.
//!
//! Both run after the load has written `observation_daily`, so it holds the
//! lock a registration waits for: a selection registered before this load
//! wrote is seen here, and one registered after it waits for this load to
//! commit and fills its rollups with what the load wrote.

use std::sync::LazyLock;

use sqlx::PgConnection;

use super::rollup::{ADD_COMPOSABLE, REPLACE_COMPOSABLE, combined_columns};

/// The nil account, standing for the organisation-wide series among a
/// selection's members.
const ORGANISATION_MEMBER: &str = "'00000000-0000-0000-0000-000000000000'::uuid";

/// The registered selections of the series `s`, as a join.
static MEMBERS_OF_SERIES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "join rollup_selection_member m
             on m.metric_id = s.metric_id
            and m.account_id = coalesce(s.account_id, {ORGANISATION_MEMBER})"
    )
});

/// Each selection member `m`'s series `s` and their rollups `d`: what a
/// selection's day is made of.
static MEMBER_ROLLUPS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "rollup_selection_member m
         join metric_definition md on md.metric_id = m.metric_id
         join series s on s.metric_key = md.metric_key
             and coalesce(s.account_id, {ORGANISATION_MEMBER}) = m.account_id
         join observation_daily d on d.series_id = s.series_id"
    )
});

/// The columns every statement here writes, in order.
const SELECTION_COLUMNS: &str = "(selection_id, day, value_sum, value_count, value_min, value_max,
     last_observed_at, first_observed_at)";

/// Adds the session's deltas to the selections' rollups, in key order (so
/// two loads lock shared rows in one order).
static ADD_DELTAS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "insert into observation_daily_selection as g {SELECTION_COLUMNS}
         select m.selection_id, x.day, {}
         from observation_daily_delta x
         join series s using (series_id)
         {}
         group by m.selection_id, x.day
         order by m.selection_id, x.day
         on conflict (selection_id, day) do update set {ADD_COMPOSABLE}",
        combined_columns("x"),
        *MEMBERS_OF_SERIES
    )
});

/// Recomputes the selections' rollups of the days where values were
/// replaced, from the (already recomputed) per-series rollups. The rows are
/// locked first and read in a later statement, so a concurrent load's
/// delta is either committed before the read (and seen) or added after
/// this transaction commits. A replaced value's day already had a rollup
/// when the selection was registered or since, so every such row exists.
static RECOMPUTE_REPLACED_DAYS: LazyLock<[String; 2]> = LazyLock::new(|| {
    let days = format!(
        "select distinct m.selection_id, r.day
         from observation_replaced_day r
         join series s using (series_id)
         {}",
        *MEMBERS_OF_SERIES
    );
    [
        format!(
            "select 1 from observation_daily_selection g
             join ({days}) r using (selection_id, day)
             order by g.selection_id, g.day for update of g"
        ),
        format!(
            "insert into observation_daily_selection as g {SELECTION_COLUMNS}
             select r.selection_id, r.day, {}
             from {} join ({days}) r on r.selection_id = m.selection_id and r.day = d.day
             group by r.selection_id, r.day
             order by r.selection_id, r.day
             on conflict (selection_id, day) do update set {REPLACE_COMPOSABLE}",
            combined_columns("d"),
            *MEMBER_ROLLUPS
        ),
    ]
});

/// New selections' (`$1`) members, then their rollups from their series'.
static FILL_SELECTIONS: LazyLock<[String; 2]> = LazyLock::new(|| {
    [
        format!(
            "insert into rollup_selection_member (metric_id, account_id, selection_id)
             select k.metric_id, a.account_id, k.selection_id
             from rollup_selection k
             cross join lateral unnest(
                 k.accounts || case when k.organisation then array[{ORGANISATION_MEMBER}] end
             ) as a(account_id)
             where k.selection_id = any($1)"
        ),
        format!(
            "insert into observation_daily_selection {SELECTION_COLUMNS}
             select m.selection_id, d.day, {}
             from {}
             where m.selection_id = any($1)
             group by m.selection_id, d.day",
            combined_columns("d"),
            *MEMBER_ROLLUPS
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

/// Gives the selections `ids`, just registered, their members and fills
/// their rollups from their series'. The caller holds the SHARE lock on
/// `observation_daily` that registration needs.
pub(crate) async fn fill_selections(
    conn: &mut PgConnection,
    ids: &[i32],
) -> Result<(), sqlx::Error> {
    for statement in FILL_SELECTIONS.iter() {
        sqlx::query(statement).bind(ids).execute(&mut *conn).await?;
    }
    Ok(())
}
