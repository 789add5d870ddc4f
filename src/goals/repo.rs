//! Goal storage. Reads load goals whole (key results, their accounts,
//! checkpoints and milestones) in five queries for any number of goals;
//! writes live in [`write`]. Functions take an executor or a connection so
//! they run on the pool or inside a caller's transaction.
//!
//! The progress engine reads through [`get_goal`], [`load_page`] (with
//! [`filter_fields`] for ListGoals' filter) and [`matching_goal_ids`].

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, Postgres, QueryBuilder};
use uuid::Uuid;

use super::model::{
    BaselineSpec, Checkpoint, Goal, KeyResult, Measure, MetricMeasure, Milestone, TargetSpec,
    UnknownValue,
};
use crate::api::filter::{Conditions, FieldKind, FilterField};
use crate::api::list::ListRequest;
use crate::api::names::GOALS;
use crate::error::ApiError;

mod write;

pub use write::*;

/// The fields ListGoals (and ListGoalProgress) filter on. Enum values are
/// accepted with or without their prefix; `parent = ""` selects top-level
/// goals.
pub fn filter_fields() -> &'static [FilterField] {
    static FIELDS: LazyLock<Vec<FilterField>> = LazyLock::new(|| {
        let stored = |names: Vec<&'static str>, prefix| FieldKind::Enum {
            prefix,
            values: names,
        };
        use super::model::{Framework, GoalState, GoalType};
        vec![
            FilterField {
                name: "goal_type",
                column: "goal_type",
                kind: stored(
                    GoalType::ALL.iter().map(|v| v.as_db()).collect(),
                    "GOAL_TYPE_",
                ),
            },
            FilterField {
                name: "framework",
                column: "framework",
                kind: stored(
                    Framework::ALL.iter().map(|v| v.as_db()).collect(),
                    "FRAMEWORK_",
                ),
            },
            FilterField {
                name: "state",
                column: "state",
                kind: stored(GoalState::ALL.iter().map(|v| v.as_db()).collect(), "STATE_"),
            },
            FilterField {
                name: "owner",
                column: "owner",
                kind: FieldKind::Text,
            },
            FilterField {
                name: "team",
                column: "team",
                kind: FieldKind::Text,
            },
            FilterField {
                name: "parent",
                column: "parent_goal_id",
                kind: FieldKind::OptionalReference(GOALS),
            },
        ]
    });
    &FIELDS
}

/// A goal row as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
struct GoalRow {
    goal_id: Uuid,
    title: String,
    description: String,
    goal_type: String,
    framework: String,
    state: String,
    owner: String,
    team: String,
    parent_goal_id: Option<Uuid>,
    business_objective: String,
    start_time: Option<DateTime<Utc>>,
    deadline: Option<DateTime<Utc>>,
    success_threshold: Option<f64>,
    create_time: DateTime<Utc>,
    update_time: DateTime<Utc>,
    revision: i64,
}

/// The goal columns read, in [`GoalRow`] order.
const GOAL_COLUMNS: &str = "goal_id, title, description, goal_type, framework, state, owner, team,
    parent_goal_id, business_objective, start_time, deadline, success_threshold,
    create_time, update_time, revision";

/// A key result row as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
struct KeyResultRow {
    key_result_id: Uuid,
    goal_id: Uuid,
    title: String,
    kind: String,
    weight: f64,
    metric_key: Option<String>,
    window_days: i32,
    target_mode: Option<String>,
    baseline_value: Option<f64>,
    baseline_start: Option<DateTime<Utc>>,
    baseline_end: Option<DateTime<Utc>>,
    target_value: Option<f64>,
    target_change_percent: Option<f64>,
    create_time: DateTime<Utc>,
    update_time: DateTime<Utc>,
    revision: i64,
}

/// How [`lock_goal`] locks a goal until the transaction ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoalLock {
    /// Against other changes of the goal or its key results
    /// (`for no key update`). Every write to a goal or its key results takes
    /// it first, so they are serialised per goal and see each other whole.
    Change,
    /// For deletion (`for update`): it also waits for writes that name the
    /// goal as a parent, so the check for children sees them.
    Delete,
}

/// Reads one goal with its key results. `None` when there is no such goal.
pub async fn get_goal(conn: &mut PgConnection, id: Uuid) -> Result<Option<Goal>, ApiError> {
    let query = format!("select {GOAL_COLUMNS} from goal where goal_id = $1");
    let row: Option<GoalRow> = sqlx::query_as(&query)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(with_key_results(conn, row.into_iter().collect())
        .await?
        .pop())
}

/// Reads one goal with its key results and locks its row as `lock` says.
pub async fn lock_goal(
    conn: &mut PgConnection,
    id: Uuid,
    lock: GoalLock,
) -> Result<Option<Goal>, ApiError> {
    let clause = match lock {
        GoalLock::Change => "for no key update",
        GoalLock::Delete => "for update",
    };
    let query = format!("select {GOAL_COLUMNS} from goal where goal_id = $1 {clause}");
    let row: Option<GoalRow> = sqlx::query_as(&query)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(with_key_results(conn, row.into_iter().collect())
        .await?
        .pop())
}

/// Reads up to `limit` goals matching `conditions` after `after` in id
/// (creation) order, with their key results.
pub async fn list_goals(
    conn: &mut PgConnection,
    conditions: &Conditions,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Goal>, ApiError> {
    let mut query: QueryBuilder<Postgres> =
        QueryBuilder::new(format!("select {GOAL_COLUMNS} from goal where true"));
    conditions.push_to(&mut query);
    if let Some(after) = after {
        query.push(" and goal_id > ").push_bind(after);
    }
    query.push(" order by goal_id limit ").push_bind(limit);
    let rows: Vec<GoalRow> = query.build_query_as().fetch_all(&mut *conn).await?;
    with_key_results(conn, rows).await
}

/// One page of a list request over goals (ListGoals' filter and page token,
/// see [`filter_fields`]): the goals, whole, and the next page's token
/// (empty on the last page).
pub async fn load_page(
    conn: &mut PgConnection,
    list: &ListRequest<Uuid>,
) -> Result<(Vec<Goal>, String), ApiError> {
    let goals = list_goals(conn, &list.conditions, list.after, list.fetch_limit()).await?;
    Ok(list.into_page(goals, |goal| goal.id))
}

/// The ids of every goal matching `conditions`, in creation order: for
/// figures over a whole report, such as counts per status.
pub async fn matching_goal_ids(
    executor: impl PgExecutor<'_>,
    conditions: &Conditions,
) -> Result<Vec<Uuid>, ApiError> {
    let mut query: QueryBuilder<Postgres> =
        QueryBuilder::new("select goal_id from goal where true");
    conditions.push_to(&mut query);
    query.push(" order by goal_id");
    Ok(query.build_query_scalar().fetch_all(executor).await?)
}

/// Reads one key result of goal `goal_id`. Callers that change it lock its
/// goal first ([`lock_goal`]), which serialises every write to it.
pub async fn get_key_result(
    conn: &mut PgConnection,
    goal_id: Uuid,
    key_result_id: Uuid,
) -> Result<Option<KeyResult>, ApiError> {
    let rows: Vec<KeyResultRow> =
        sqlx::query_as("select * from key_result where key_result_id = $1 and goal_id = $2")
            .bind(key_result_id)
            .bind(goal_id)
            .fetch_all(&mut *conn)
            .await?;
    Ok(load_key_results(conn, rows).await?.pop())
}

/// Attaches key results to goal rows and decodes them.
async fn with_key_results(
    conn: &mut PgConnection,
    rows: Vec<GoalRow>,
) -> Result<Vec<Goal>, ApiError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = rows.iter().map(|row| row.goal_id).collect();
    let key_result_rows: Vec<KeyResultRow> = sqlx::query_as(
        "select * from key_result where goal_id = any($1) order by goal_id, position",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut by_goal: HashMap<Uuid, Vec<KeyResult>> = HashMap::new();
    for key_result in load_key_results(conn, key_result_rows).await? {
        by_goal
            .entry(key_result.goal_id)
            .or_default()
            .push(key_result);
    }
    rows.into_iter()
        .map(|row| {
            let key_results = by_goal.remove(&row.goal_id).unwrap_or_default();
            decode_goal(row, key_results).map_err(ApiError::internal)
        })
        .collect()
}

/// Attaches accounts, checkpoints and milestones to key result rows (three
/// queries for any number) and decodes them, keeping the rows' order.
async fn load_key_results(
    conn: &mut PgConnection,
    rows: Vec<KeyResultRow>,
) -> Result<Vec<KeyResult>, ApiError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = rows.iter().map(|row| row.key_result_id).collect();
    let accounts: Vec<(Uuid, Option<Uuid>)> = sqlx::query_as(
        "select key_result_id, account_id from key_result_account
         where key_result_id = any($1) order by key_result_id, position",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let checkpoints: Vec<(Uuid, DateTime<Utc>, f64)> = sqlx::query_as(
        "select key_result_id, time, target_value from key_result_checkpoint
         where key_result_id = any($1) order by key_result_id, time",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let milestones: Vec<(Uuid, Uuid, String, Option<DateTime<Utc>>)> = sqlx::query_as(
        "select key_result_id, milestone_id, title, done_time from milestone
         where key_result_id = any($1) order by key_result_id, position",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;

    let mut accounts_of: HashMap<Uuid, Vec<Option<Uuid>>> = HashMap::new();
    for (key_result_id, account_id) in accounts {
        accounts_of
            .entry(key_result_id)
            .or_default()
            .push(account_id);
    }
    let mut checkpoints_of: HashMap<Uuid, Vec<Checkpoint>> = HashMap::new();
    for (key_result_id, time, target_value) in checkpoints {
        checkpoints_of
            .entry(key_result_id)
            .or_default()
            .push(Checkpoint { time, target_value });
    }
    let mut milestones_of: HashMap<Uuid, Vec<Milestone>> = HashMap::new();
    for (key_result_id, id, title, done_time) in milestones {
        milestones_of
            .entry(key_result_id)
            .or_default()
            .push(Milestone {
                id,
                title,
                done_time,
            });
    }
    rows.into_iter()
        .map(|row| {
            let id = row.key_result_id;
            decode_key_result(
                row,
                accounts_of.remove(&id).unwrap_or_default(),
                checkpoints_of.remove(&id).unwrap_or_default(),
                milestones_of.remove(&id).unwrap_or_default(),
            )
            .map_err(ApiError::internal)
        })
        .collect()
}

fn decode_goal(row: GoalRow, key_results: Vec<KeyResult>) -> Result<Goal, UnknownValue> {
    Ok(Goal {
        id: row.goal_id,
        title: row.title,
        description: row.description,
        goal_type: row.goal_type.parse()?,
        framework: row.framework.parse()?,
        state: row.state.parse()?,
        owner: row.owner,
        team: row.team,
        parent: row.parent_goal_id,
        business_objective: row.business_objective,
        start_time: row.start_time,
        deadline: row.deadline,
        success_threshold: row.success_threshold,
        key_results,
        create_time: row.create_time,
        update_time: row.update_time,
        revision: row.revision,
    })
}

fn decode_key_result(
    row: KeyResultRow,
    accounts: Vec<Option<Uuid>>,
    checkpoints: Vec<Checkpoint>,
    milestones: Vec<Milestone>,
) -> Result<KeyResult, UnknownValue> {
    let unknown = |value: &str| UnknownValue {
        enumeration: "key result shape",
        value: value.to_owned(),
    };
    let measure = match row.kind.as_str() {
        "MILESTONE" => Measure::Milestones(milestones),
        "METRIC" => {
            let baseline = match (row.baseline_value, row.baseline_start, row.baseline_end) {
                (Some(value), _, _) => BaselineSpec::Value(value),
                (None, Some(start), Some(end)) => BaselineSpec::Range { start, end },
                _ => BaselineSpec::Default,
            };
            let target = match (row.target_value, row.target_change_percent) {
                (Some(value), None) => TargetSpec::Value(value),
                (None, Some(percent)) => TargetSpec::ChangePercent(percent),
                _ => return Err(unknown("target")),
            };
            Measure::Metric(MetricMeasure {
                metric_key: row.metric_key.ok_or_else(|| unknown("metric_key"))?,
                accounts,
                window_days: row.window_days,
                target_mode: row.target_mode.as_deref().unwrap_or_default().parse()?,
                baseline,
                target,
                checkpoints,
            })
        }
        other => return Err(unknown(other)),
    };
    Ok(KeyResult {
        id: row.key_result_id,
        goal_id: row.goal_id,
        title: row.title,
        weight: row.weight,
        measure,
        create_time: row.create_time,
        update_time: row.update_time,
        revision: row.revision,
    })
}
