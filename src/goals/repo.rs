//! Goal storage. Reads load goals whole (key results, their accounts,
//! checkpoints and milestones) in two queries for any number of goals, and
//! one goal with key results in one;
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
    BaselineSpec, Checkpoint, Closing, Framework, Goal, GoalState, GoalType, KeyResult, Measure,
    MetricMeasure, Milestone, TargetSpec, UnknownValue,
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
    final_score: Option<f64>,
    final_status: Option<String>,
    final_grade: Option<String>,
    close_time: Option<DateTime<Utc>>,
    create_time: DateTime<Utc>,
    update_time: DateTime<Utc>,
    revision: i64,
}

/// The goal columns read, in [`GoalRow`] order, of the goal table named `g`
/// (qualified, so that they can be read beside a key result's).
const GOAL_COLUMNS: &str = "g.goal_id, g.title, g.description, g.goal_type, g.framework, g.state,
    g.owner, g.team, g.parent_goal_id, g.business_objective, g.start_time, g.deadline,
    g.success_threshold, g.final_score, g.final_status, g.final_grade, g.close_time,
    g.create_time, g.update_time, g.revision";

/// A key result row as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
struct KeyResultRow {
    key_result_id: Uuid,
    goal_id: Uuid,
    #[sqlx(rename = "key_result_title")]
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
    #[sqlx(rename = "key_result_create_time")]
    create_time: DateTime<Utc>,
    #[sqlx(rename = "key_result_update_time")]
    update_time: DateTime<Utc>,
    #[sqlx(rename = "key_result_revision")]
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
///
/// The goal and its key results come in one statement, a row per key
/// result: a progress answer's first read, in one round trip. A goal
/// without key results (or no goal) returns no row there, and is read the
/// way a list reads goals.
pub async fn get_goal(conn: &mut PgConnection, id: Uuid) -> Result<Option<Goal>, ApiError> {
    static ONE_GOAL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "select {GOAL_COLUMNS}, {KEY_RESULT_COLUMNS}
             from goal g join key_result k on k.goal_id = g.goal_id
             where g.goal_id = $1 order by k.position"
        )
    });
    let rows: Vec<GoalWithKeyResult> = sqlx::query_as(ONE_GOAL.as_str())
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
    let mut rows = rows.into_iter();
    let Some(first) = rows.next() else {
        return goal_then_key_results(conn, id, "").await;
    };
    let key_results = std::iter::once(first.key_result)
        .chain(rows.map(|row| row.key_result))
        .map(decode_key_result)
        .collect::<Result<Vec<_>, _>>()
        .map_err(ApiError::internal)?;
    decode_goal(first.goal, key_results)
        .map(Some)
        .map_err(ApiError::internal)
}

/// A goal row beside one of its key results.
#[derive(Debug, sqlx::FromRow)]
struct GoalWithKeyResult {
    #[sqlx(flatten)]
    goal: GoalRow,
    #[sqlx(flatten)]
    key_result: KeyResultWhole,
}

/// Reads one goal with its key results and locks its row as `lock` says.
///
/// Two statements, not [`get_goal`]'s one: a joined statement that waits
/// for the lock would still return the key results of the snapshot it began
/// with, missing what the write it waited for committed.
pub async fn lock_goal(
    conn: &mut PgConnection,
    id: Uuid,
    lock: GoalLock,
) -> Result<Option<Goal>, ApiError> {
    let clause = match lock {
        GoalLock::Change => "for no key update",
        GoalLock::Delete => "for update",
    };
    goal_then_key_results(conn, id, clause).await
}

/// One goal's row (locked by `lock_clause` unless it is empty), then its
/// key results.
async fn goal_then_key_results(
    conn: &mut PgConnection,
    id: Uuid,
    lock_clause: &str,
) -> Result<Option<Goal>, ApiError> {
    let query = format!("select {GOAL_COLUMNS} from goal g where g.goal_id = $1 {lock_clause}");
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
        QueryBuilder::new(format!("select {GOAL_COLUMNS} from goal g where true"));
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
    let query = format!(
        "{} where k.key_result_id = $1 and k.goal_id = $2",
        *KEY_RESULTS_WHOLE
    );
    let row: Option<KeyResultWhole> = sqlx::query_as(&query)
        .bind(key_result_id)
        .bind(goal_id)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(decode_key_result)
        .transpose()
        .map_err(ApiError::internal)
}

/// A key result's columns with its accounts, checkpoints and milestones as
/// arrays beside them, of the key result table named `k`: one round trip
/// for a goal however many parts it has. The names a goal's columns share
/// are told apart (see [`KeyResultRow`]).
const KEY_RESULT_COLUMNS: &str = "k.key_result_id, k.goal_id, k.title as key_result_title,
       k.kind, k.weight, k.metric_key, k.window_days, k.target_mode, k.baseline_value,
       k.baseline_start, k.baseline_end, k.target_value, k.target_change_percent,
       k.create_time as key_result_create_time, k.update_time as key_result_update_time,
       k.revision as key_result_revision,
       array(select a.account_id from key_result_account a
             where a.key_result_id = k.key_result_id order by a.position) as accounts,
       array(select c.time from key_result_checkpoint c
             where c.key_result_id = k.key_result_id order by c.time) as checkpoint_times,
       array(select c.target_value from key_result_checkpoint c
             where c.key_result_id = k.key_result_id order by c.time) as checkpoint_values,
       array(select m.milestone_id from milestone m
             where m.key_result_id = k.key_result_id order by m.position) as milestone_ids,
       array(select m.title from milestone m
             where m.key_result_id = k.key_result_id order by m.position) as milestone_titles,
       array(select m.done_time from milestone m
             where m.key_result_id = k.key_result_id order by m.position) as milestone_done_times";

/// [`KEY_RESULT_COLUMNS`] of every key result; followed by a `where` on `k`.
static KEY_RESULTS_WHOLE: LazyLock<String> =
    LazyLock::new(|| format!("select {KEY_RESULT_COLUMNS} from key_result k"));

/// A key result row with its parts, as [`KEY_RESULTS_WHOLE`] reads it.
#[derive(Debug, sqlx::FromRow)]
struct KeyResultWhole {
    #[sqlx(flatten)]
    row: KeyResultRow,
    /// Its accounts in order; `None` is the organisation-wide series.
    accounts: Vec<Option<Uuid>>,
    checkpoint_times: Vec<DateTime<Utc>>,
    checkpoint_values: Vec<f64>,
    milestone_ids: Vec<Uuid>,
    milestone_titles: Vec<String>,
    milestone_done_times: Vec<Option<DateTime<Utc>>>,
}

/// Attaches key results to goal rows and decodes them.
async fn with_key_results(
    conn: &mut PgConnection,
    rows: Vec<GoalRow>,
) -> Result<Vec<Goal>, ApiError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // One goal (GetGoal, progress) binds its id alone: the plan for one id
    // is simpler to make than one for an array, and it stays good should
    // the pool ever let PostgreSQL keep a generic plan (it settles on one
    // for `= $1` after a few runs, never for `= any($1)`).
    static ONE_GOAL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "{} where k.goal_id = $1 order by k.position",
            *KEY_RESULTS_WHOLE
        )
    });
    static SOME_GOALS: LazyLock<String> = LazyLock::new(|| {
        format!(
            "{} where k.goal_id = any($1) order by k.goal_id, k.position",
            *KEY_RESULTS_WHOLE
        )
    });
    let key_results: Vec<KeyResultWhole> = match rows.as_slice() {
        [row] => {
            sqlx::query_as(ONE_GOAL.as_str())
                .bind(row.goal_id)
                .fetch_all(&mut *conn)
                .await?
        }
        _ => {
            let ids: Vec<Uuid> = rows.iter().map(|row| row.goal_id).collect();
            sqlx::query_as(SOME_GOALS.as_str())
                .bind(&ids)
                .fetch_all(&mut *conn)
                .await?
        }
    };
    let mut by_goal: HashMap<Uuid, Vec<KeyResult>> = HashMap::new();
    for whole in key_results {
        let key_result = decode_key_result(whole).map_err(ApiError::internal)?;
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

fn decode_goal(row: GoalRow, key_results: Vec<KeyResult>) -> Result<Goal, UnknownValue> {
    let closing = match (
        row.close_time,
        row.final_score,
        row.final_status,
        row.final_grade,
    ) {
        (Some(time), Some(score), Some(status), Some(grade)) => Some(Closing {
            time,
            score,
            status: status.parse()?,
            grade: grade.parse()?,
        }),
        _ => None,
    };
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
        closing,
        create_time: row.create_time,
        update_time: row.update_time,
        revision: row.revision,
    })
}

fn decode_key_result(whole: KeyResultWhole) -> Result<KeyResult, UnknownValue> {
    let KeyResultWhole {
        row,
        accounts,
        checkpoint_times,
        checkpoint_values,
        milestone_ids,
        milestone_titles,
        milestone_done_times,
    } = whole;
    let checkpoints: Vec<Checkpoint> = checkpoint_times
        .into_iter()
        .zip(checkpoint_values)
        .map(|(time, target_value)| Checkpoint { time, target_value })
        .collect();
    let milestones: Vec<Milestone> = milestone_ids
        .into_iter()
        .zip(milestone_titles)
        .zip(milestone_done_times)
        .map(|((id, title), done_time)| Milestone {
            id,
            title,
            done_time,
        })
        .collect();
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
