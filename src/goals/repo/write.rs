//! Goal and key result writes. Callers hold the goal's row lock
//! ([`super::lock_goal`]) around every change of the goal or its key results.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::error::{ApiError, violated_constraint};
use crate::goals::input::GoalFields;
use crate::goals::key_result_input::KeyResultFields;
use crate::goals::model::{BaselineSpec, GoalState, Measure, TargetSpec};

/// The advisory lock every parent change holds until its transaction ends,
/// so that two crossing changes (A under B, B under A) cannot both pass the
/// cycle check on a state that the other is about to change. Parent changes
/// are rare; one lock for all of them costs nothing worth a finer scheme.
const PARENT_CHANGE_LOCK: i64 = 0x676f_616c_7061_7265; // "goalpare"

/// A parent that vanished between the check and the write (a concurrent
/// delete) fails its foreign key.
const GOAL_PARENT_KEY: &str = "goal_parent_goal_id_fkey";
/// An account deleted concurrently with a key result selecting it.
const KEY_RESULT_ACCOUNT_KEY: &str = "key_result_account_account_id_fkey";

fn map_goal_write_error(error: sqlx::Error, prefix: &str) -> ApiError {
    if violated_constraint(&error) == Some(GOAL_PARENT_KEY) {
        return ApiError::invalid_field(
            format!("{prefix}.parent"),
            "names a goal that does not exist (it was just deleted)",
        );
    }
    error.into()
}

/// Stores a new draft goal.
pub async fn insert_goal(
    executor: impl PgExecutor<'_>,
    goal_id: Uuid,
    fields: &GoalFields,
) -> Result<(), ApiError> {
    sqlx::query(
        "insert into goal (goal_id, title, description, goal_type, framework, owner, team,
             parent_goal_id, business_objective, start_time, deadline, success_threshold)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(goal_id)
    .bind(&fields.title)
    .bind(&fields.description)
    .bind(fields.goal_type.as_db())
    .bind(fields.framework.as_db())
    .bind(&fields.owner)
    .bind(&fields.team)
    .bind(fields.parent)
    .bind(&fields.business_objective)
    .bind(fields.start_time)
    .bind(fields.deadline)
    .bind(fields.success_threshold)
    .execute(executor)
    .await
    .map_err(|error| map_goal_write_error(error, "goal"))?;
    Ok(())
}

/// Overwrites a goal's caller-owned fields; the trigger bumps its revision.
pub async fn update_goal(
    executor: impl PgExecutor<'_>,
    goal_id: Uuid,
    fields: &GoalFields,
) -> Result<(), ApiError> {
    sqlx::query(
        "update goal set title = $2, description = $3, goal_type = $4, framework = $5, owner = $6,
             team = $7, parent_goal_id = $8, business_objective = $9, start_time = $10,
             deadline = $11, success_threshold = $12
         where goal_id = $1",
    )
    .bind(goal_id)
    .bind(&fields.title)
    .bind(&fields.description)
    .bind(fields.goal_type.as_db())
    .bind(fields.framework.as_db())
    .bind(&fields.owner)
    .bind(&fields.team)
    .bind(fields.parent)
    .bind(&fields.business_objective)
    .bind(fields.start_time)
    .bind(fields.deadline)
    .bind(fields.success_threshold)
    .execute(executor)
    .await
    .map_err(|error| map_goal_write_error(error, "goal"))?;
    Ok(())
}

/// Moves a goal to `state`, setting its start time when it has none.
pub async fn set_goal_state(
    executor: impl PgExecutor<'_>,
    goal_id: Uuid,
    state: GoalState,
    start_if_unset: DateTime<Utc>,
) -> Result<(), ApiError> {
    sqlx::query(
        "update goal set state = $2, start_time = coalesce(start_time, $3) where goal_id = $1",
    )
    .bind(goal_id)
    .bind(state.as_db())
    .bind(start_if_unset)
    .execute(executor)
    .await?;
    Ok(())
}

/// Deletes a goal and, by cascade, its key results.
pub async fn delete_goal(executor: impl PgExecutor<'_>, goal_id: Uuid) -> Result<(), ApiError> {
    sqlx::query("delete from goal where goal_id = $1")
        .bind(goal_id)
        .execute(executor)
        .await?;
    Ok(())
}

/// How many goals name `goal_id` as their parent.
pub async fn child_goal_count(
    executor: impl PgExecutor<'_>,
    goal_id: Uuid,
) -> Result<i64, ApiError> {
    Ok(
        sqlx::query_scalar("select count(*) from goal where parent_goal_id = $1")
            .bind(goal_id)
            .fetch_one(executor)
            .await?,
    )
}

/// Whether a goal exists.
pub async fn goal_exists(executor: impl PgExecutor<'_>, goal_id: Uuid) -> Result<bool, ApiError> {
    Ok(
        sqlx::query_scalar("select exists (select 1 from goal where goal_id = $1)")
            .bind(goal_id)
            .fetch_one(executor)
            .await?,
    )
}

/// Waits for every other parent change in flight to commit or roll back,
/// and holds them off until this transaction ends. Take it before
/// [`would_make_cycle`]: each statement after it sees every earlier parent
/// change committed.
pub async fn serialize_parent_changes(executor: impl PgExecutor<'_>) -> Result<(), ApiError> {
    sqlx::query("select pg_advisory_xact_lock($1)")
        .bind(PARENT_CHANGE_LOCK)
        .execute(executor)
        .await?;
    Ok(())
}

/// Whether making `parent` the parent of `goal_id` would close a cycle:
/// `goal_id` is `parent` itself or one of its ancestors.
pub async fn would_make_cycle(
    executor: impl PgExecutor<'_>,
    goal_id: Uuid,
    parent: Uuid,
) -> Result<bool, ApiError> {
    // `union` (not `union all`) ends the walk even on a stored cycle.
    Ok(sqlx::query_scalar(
        "with recursive ancestor (goal_id) as (
             select $2::uuid
             union
             select g.parent_goal_id from goal g join ancestor a using (goal_id)
             where g.parent_goal_id is not null
         )
         select exists (select 1 from ancestor where goal_id = $1)",
    )
    .bind(goal_id)
    .bind(parent)
    .fetch_one(executor)
    .await?)
}

/// How many key results a goal holds.
pub async fn key_result_count(
    executor: impl PgExecutor<'_>,
    goal_id: Uuid,
) -> Result<i64, ApiError> {
    Ok(
        sqlx::query_scalar("select count(*) from key_result where goal_id = $1")
            .bind(goal_id)
            .fetch_one(executor)
            .await?,
    )
}

/// Whether `metric_key` names no metric of the catalog.
pub async fn is_unknown_metric(
    executor: impl PgExecutor<'_>,
    metric_key: &str,
) -> Result<bool, ApiError> {
    Ok(sqlx::query_scalar(
        "select not exists (select 1 from metric_definition where metric_key = $1)",
    )
    .bind(metric_key)
    .fetch_one(executor)
    .await?)
}

/// The key result columns of `fields`, as stored: `None` where the kind
/// leaves a column empty.
struct Columns<'a> {
    kind: &'static str,
    metric_key: Option<&'a str>,
    window_days: i32,
    target_mode: Option<&'static str>,
    baseline_value: Option<f64>,
    baseline_start: Option<DateTime<Utc>>,
    baseline_end: Option<DateTime<Utc>>,
    target_value: Option<f64>,
    target_change_percent: Option<f64>,
}

fn columns(fields: &KeyResultFields) -> Columns<'_> {
    match &fields.measure {
        Measure::Milestones(_) => Columns {
            kind: "MILESTONE",
            metric_key: None,
            window_days: 0,
            target_mode: None,
            baseline_value: None,
            baseline_start: None,
            baseline_end: None,
            target_value: None,
            target_change_percent: None,
        },
        Measure::Metric(metric) => {
            let (baseline_value, baseline_start, baseline_end) = match metric.baseline {
                BaselineSpec::Value(value) => (Some(value), None, None),
                BaselineSpec::Range { start, end } => (None, Some(start), Some(end)),
                BaselineSpec::Default => (None, None, None),
            };
            let (target_value, target_change_percent) = match metric.target {
                TargetSpec::Value(value) => (Some(value), None),
                TargetSpec::ChangePercent(percent) => (None, Some(percent)),
            };
            Columns {
                kind: "METRIC",
                metric_key: Some(&metric.metric_key),
                window_days: metric.window_days,
                target_mode: Some(metric.target_mode.as_db()),
                baseline_value,
                baseline_start,
                baseline_end,
                target_value,
                target_change_percent,
            }
        }
    }
}

/// Stores a new key result at the end of its goal's list.
pub async fn insert_key_result(
    conn: &mut PgConnection,
    goal_id: Uuid,
    key_result_id: Uuid,
    fields: &KeyResultFields,
) -> Result<(), ApiError> {
    let c = columns(fields);
    sqlx::query(
        "insert into key_result (key_result_id, goal_id, position, title, kind, weight, metric_key,
             window_days, target_mode, baseline_value, baseline_start, baseline_end, target_value,
             target_change_percent)
         values ($1, $2, (select coalesce(max(position), 0) + 1 from key_result where goal_id = $2),
             $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(key_result_id)
    .bind(goal_id)
    .bind(&fields.title)
    .bind(c.kind)
    .bind(fields.weight)
    .bind(c.metric_key)
    .bind(c.window_days)
    .bind(c.target_mode)
    .bind(c.baseline_value)
    .bind(c.baseline_start)
    .bind(c.baseline_end)
    .bind(c.target_value)
    .bind(c.target_change_percent)
    .execute(&mut *conn)
    .await?;
    insert_parts(conn, key_result_id, fields).await
}

/// Overwrites a key result with `fields` (its kind unchanged); the trigger
/// bumps its revision. Milestones keep the ids `fields` carries.
pub async fn update_key_result(
    conn: &mut PgConnection,
    key_result_id: Uuid,
    fields: &KeyResultFields,
) -> Result<(), ApiError> {
    let c = columns(fields);
    sqlx::query(
        "update key_result set title = $2, weight = $3, metric_key = $4, window_days = $5,
             target_mode = $6, baseline_value = $7, baseline_start = $8, baseline_end = $9,
             target_value = $10, target_change_percent = $11
         where key_result_id = $1",
    )
    .bind(key_result_id)
    .bind(&fields.title)
    .bind(fields.weight)
    .bind(c.metric_key)
    .bind(c.window_days)
    .bind(c.target_mode)
    .bind(c.baseline_value)
    .bind(c.baseline_start)
    .bind(c.baseline_end)
    .bind(c.target_value)
    .bind(c.target_change_percent)
    .execute(&mut *conn)
    .await?;
    for table in [
        "delete from key_result_account where key_result_id = $1",
        "delete from key_result_checkpoint where key_result_id = $1",
        "delete from milestone where key_result_id = $1",
    ] {
        sqlx::query(table)
            .bind(key_result_id)
            .execute(&mut *conn)
            .await?;
    }
    insert_parts(conn, key_result_id, fields).await
}

/// Stores the accounts, checkpoints or milestones of a key result, one
/// statement each.
async fn insert_parts(
    conn: &mut PgConnection,
    key_result_id: Uuid,
    fields: &KeyResultFields,
) -> Result<(), ApiError> {
    match &fields.measure {
        Measure::Metric(metric) => {
            if !metric.accounts.is_empty() {
                sqlx::query(
                    "insert into key_result_account (key_result_id, position, account_id)
                     select $1, position, account_id
                     from unnest($2::uuid[]) with ordinality as given (account_id, position)",
                )
                .bind(key_result_id)
                .bind(&metric.accounts)
                .execute(&mut *conn)
                .await
                .map_err(|error| {
                    if violated_constraint(&error) == Some(KEY_RESULT_ACCOUNT_KEY) {
                        ApiError::invalid_field(
                            "key_result.accounts",
                            "names an account that does not exist (it was just deleted)",
                        )
                    } else {
                        error.into()
                    }
                })?;
            }
            if !metric.checkpoints.is_empty() {
                let times: Vec<DateTime<Utc>> = metric.checkpoints.iter().map(|c| c.time).collect();
                let values: Vec<f64> = metric.checkpoints.iter().map(|c| c.target_value).collect();
                sqlx::query(
                    "insert into key_result_checkpoint (key_result_id, time, target_value)
                     select $1, time, target_value
                     from unnest($2::timestamptz[], $3::float8[]) as given (time, target_value)",
                )
                .bind(key_result_id)
                .bind(times)
                .bind(values)
                .execute(&mut *conn)
                .await?;
            }
        }
        Measure::Milestones(milestones) => {
            let ids: Vec<Uuid> = milestones.iter().map(|m| m.id).collect();
            let titles: Vec<&str> = milestones.iter().map(|m| m.title.as_str()).collect();
            let done: Vec<Option<DateTime<Utc>>> = milestones.iter().map(|m| m.done_time).collect();
            sqlx::query(
                "insert into milestone (milestone_id, key_result_id, position, title, done_time)
                 select milestone_id, $1, position, title, done_time
                 from unnest($2::uuid[], $3::text[], $4::timestamptz[])
                     with ordinality as given (milestone_id, title, done_time, position)",
            )
            .bind(key_result_id)
            .bind(ids)
            .bind(titles)
            .bind(done)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// Deletes a key result with its parts.
pub async fn delete_key_result(
    executor: impl PgExecutor<'_>,
    key_result_id: Uuid,
) -> Result<(), ApiError> {
    sqlx::query("delete from key_result where key_result_id = $1")
        .bind(key_result_id)
        .execute(executor)
        .await?;
    Ok(())
}

/// Records a milestone as done at `done_time`, or not done with `None`, and
/// bumps its key result's revision and update time: the key result's etag
/// covers its milestones.
pub async fn set_milestone_done_time(
    conn: &mut PgConnection,
    key_result_id: Uuid,
    milestone_id: Uuid,
    done_time: Option<DateTime<Utc>>,
) -> Result<(), ApiError> {
    sqlx::query(
        "update milestone set done_time = $3 where milestone_id = $2 and key_result_id = $1",
    )
    .bind(key_result_id)
    .bind(milestone_id)
    .bind(done_time)
    .execute(&mut *conn)
    .await?;
    // The trigger bumps revision and update_time on any update.
    sqlx::query("update key_result set revision = revision where key_result_id = $1")
        .bind(key_result_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
