//! The goal methods of `GoalService`: parse the request, check it against
//! the stored goal under its row lock, write, and return the goal whole.

use crate::goals::model::Closing;
use crate::progress::evaluate::Evaluator;
use chrono::Utc;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::cache::GoalCache;
use super::checks::framework_checks_at;
use super::convert::{
    GOAL_OUTPUT_ONLY_FIELDS, GOAL_UPDATABLE_FIELDS, apply_goal_mask, goal_is_populated,
};
use super::input::GoalFields;
use super::model::{Goal, GoalState};
use super::repo::{self, GoalLock};
use super::service::{ensure_open, inside, lock_goal};
use crate::api::list::ListRequest;
use crate::api::names::{GOALS, KEY_RESULTS, new_id};
use crate::api::pagination::PageSizes;
use crate::api::{etag, field_mask, idempotency};
use crate::error::{ApiError, PreconditionViolation, ResourceKind, Violations};
use crate::observations::read::ReadCaches;
use crate::pb;

/// Reads a goal back after a write in the same transaction.
async fn reload(conn: &mut PgConnection, goal_id: Uuid) -> Result<pb::Goal, ApiError> {
    let goal = repo::get_goal(conn, goal_id)
        .await?
        .ok_or_else(|| GOALS.not_found(goal_id))?;
    Ok(pb::Goal::from(&goal))
}

/// CreateGoal. A parent that does not exist is INVALID_ARGUMENT on
/// `goal.parent` (like every other reference a request carries), not
/// NOT_FOUND, which is kept for the resource a call targets.
pub async fn create(pool: &PgPool, request: pb::CreateGoalRequest) -> Result<pb::Goal, ApiError> {
    let mut violations = Violations::default();
    let request_id = idempotency::parse_request_id(&mut violations, &request.request_id);
    if request.goal.is_none() {
        violations.add("goal", "is required");
    }
    let goal = request.goal.clone().unwrap_or_default();
    let fields = GoalFields::parse(&mut violations, "goal", &goal);
    // A parent deleted after this check fails the insert's foreign key,
    // which says the same.
    if let Some(parent) = GOALS.id_of(&goal.parent)
        && !repo::goal_exists(pool, parent).await?
    {
        violations.add("goal.parent", missing_parent(parent));
    }
    let fields = violations
        .finish(fields)?
        .ok_or_else(|| ApiError::internal("validated fields missing"))?;

    idempotency::once(pool, request_id, "CreateGoal", &request, async |tx| {
        let goal_id = new_id();
        repo::insert_goal(&mut *tx, goal_id, &fields).await?;
        reload(tx, goal_id).await
    })
    .await
}

fn missing_parent(parent: Uuid) -> String {
    format!(
        "{} does not exist: name an existing goal, or leave parent empty for a top-level goal",
        GOALS.name(parent)
    )
}

/// GetGoal, from the cache when it holds the goal.
pub async fn get(
    pool: &PgPool,
    cache: &GoalCache,
    request: pb::GetGoalRequest,
) -> Result<pb::Goal, ApiError> {
    let pb::GetGoalRequest { name } = request;
    let goal_id = GOALS.parse("name", &name)?;
    // A hit takes no connection from the pool.
    let goal = match cache.lookup(goal_id) {
        Some(goal) => goal,
        None => cache.load(&mut *pool.acquire().await?, goal_id).await?,
    };
    Ok(pb::Goal::from(&*goal))
}

/// ListGoals.
pub async fn list(
    pool: &PgPool,
    page_sizes: PageSizes,
    request: pb::ListGoalsRequest,
) -> Result<pb::ListGoalsResponse, ApiError> {
    let pb::ListGoalsRequest {
        page_size,
        page_token,
        filter,
    } = request;
    let list = ListRequest::parse(
        page_sizes,
        page_size,
        &page_token,
        filter,
        repo::filter_fields(),
    )?;
    // One snapshot, so a goal and its key results are read consistently.
    let mut tx = pool.begin().await?;
    sqlx::query("set transaction isolation level repeatable read, read only")
        .execute(&mut *tx)
        .await?;
    let (goals, next_page_token) = repo::load_page(&mut tx, &list).await?;
    tx.commit().await?;
    Ok(pb::ListGoalsResponse {
        goals: goals.iter().map(pb::Goal::from).collect(),
        next_page_token,
    })
}

/// UpdateGoal.
pub async fn update(pool: &PgPool, request: pb::UpdateGoalRequest) -> Result<pb::Goal, ApiError> {
    let pb::UpdateGoalRequest { goal, update_mask } = request;
    let Some(changes) = goal else {
        return Err(ApiError::invalid_field("goal", "is required"));
    };
    let goal_id = GOALS.parse("goal.name", &changes.name)?;
    let paths = field_mask::resolve_ignoring(
        update_mask.as_ref(),
        GOAL_UPDATABLE_FIELDS,
        GOAL_OUTPUT_ONLY_FIELDS,
        |path| goal_is_populated(&changes, path),
    )?;

    let mut tx = pool.begin().await?;
    let current = lock_goal(&mut tx, goal_id, GoalLock::Change, || {
        GOALS.not_found(goal_id)
    })
    .await?;
    etag::check(
        &changes.etag,
        current.revision,
        ResourceKind::Goal,
        &changes.name,
    )?;
    ensure_open(&current)?;

    let mut merged = pb::Goal::from(&current);
    apply_goal_mask(&mut merged, &changes, &paths);
    let mut violations = Violations::default();
    let fields = GoalFields::parse(&mut violations, "goal", &merged);
    let new_parent = GOALS.id_of(&merged.parent);
    if let Some(parent) = new_parent
        && new_parent != current.parent
    {
        check_new_parent(&mut tx, &mut violations, goal_id, parent).await?;
    }
    if let Some(fields) = &fields {
        check_active_frame(&mut violations, &current, fields);
    }
    let fields = violations
        .finish(fields)?
        .ok_or_else(|| ApiError::internal("validated fields missing"))?;
    if current.state != GoalState::Draft
        && (fields.framework != current.framework || fields.start_time != current.start_time)
    {
        return Err(ApiError::failed_precondition(
            "GOAL_NOT_DRAFT",
            GOALS.name(goal_id),
            "the framework and start_time of an active goal are fixed: they can change only while the goal is a draft",
        ));
    }
    repo::update_goal(&mut *tx, goal_id, &fields).await?;
    let goal = reload(&mut tx, goal_id).await?;
    tx.commit().await?;
    Ok(goal)
}

/// Records a violation of `goal.parent` unless `parent` exists and is not
/// `goal_id` or one of its descendants. Serialises with every other parent
/// change, so crossing changes cannot both pass and store a cycle.
async fn check_new_parent(
    conn: &mut PgConnection,
    violations: &mut Violations,
    goal_id: Uuid,
    parent: Uuid,
) -> Result<(), ApiError> {
    repo::serialize_parent_changes(&mut *conn).await?;
    if !repo::goal_exists(&mut *conn, parent).await? {
        violations.add("goal.parent", missing_parent(parent));
    } else if repo::would_make_cycle(&mut *conn, goal_id, parent).await? {
        violations.add(
            "goal.parent",
            format!(
                "{} is this goal or one of its descendants: a goal can be neither its own parent nor the parent of one of its ancestors",
                GOALS.name(parent)
            ),
        );
    }
    Ok(())
}

/// An active goal keeps a deadline after its start with every checkpoint
/// strictly in between.
fn check_active_frame(violations: &mut Violations, current: &Goal, fields: &GoalFields) {
    if current.state != GoalState::Active {
        return;
    }
    let Some(start) = fields.start_time else {
        // Clearing start_time is refused as a change of a fixed field.
        return;
    };
    let Some(deadline) = fields.deadline else {
        violations.add("goal.deadline", "is required once the goal is active");
        return;
    };
    let outside: Vec<String> = current
        .key_results
        .iter()
        .filter(|key_result| {
            key_result
                .checkpoints()
                .iter()
                .any(|checkpoint| !inside(checkpoint.time, start, deadline))
        })
        .map(|key_result| KEY_RESULTS.name(current.id, key_result.id))
        .collect();
    if !outside.is_empty() {
        violations.add(
            "goal.deadline",
            format!(
                "would leave checkpoints of {} outside the goal's time frame: move them first",
                outside.join(", ")
            ),
        );
    }
}

/// DeleteGoal.
pub async fn delete(pool: &PgPool, request: pb::DeleteGoalRequest) -> Result<(), ApiError> {
    let pb::DeleteGoalRequest {
        name,
        etag: given_etag,
    } = request;
    let goal_id = GOALS.parse("name", &name)?;

    let mut tx = pool.begin().await?;
    let current = lock_goal(&mut tx, goal_id, GoalLock::Delete, || {
        GOALS.not_found(goal_id)
    })
    .await?;
    etag::check(&given_etag, current.revision, ResourceKind::Goal, &name)?;
    if current.state != GoalState::Draft {
        return Err(ApiError::failed_precondition(
            "GOAL_NOT_DRAFT",
            name,
            "active and closed goals are part of the record and cannot be deleted: close the goal instead",
        ));
    }
    let children = repo::child_goal_count(&mut *tx, goal_id).await?;
    if children > 0 {
        return Err(ApiError::failed_precondition(
            "GOAL_HAS_CHILDREN",
            name,
            format!(
                "{children} goal(s) name this goal as their parent: give them another parent first"
            ),
        ));
    }
    repo::delete_goal(&mut *tx, goal_id).await?;
    tx.commit().await?;
    Ok(())
}

/// ActivateGoal.
pub async fn activate(
    pool: &PgPool,
    request: pb::ActivateGoalRequest,
) -> Result<pb::Goal, ApiError> {
    let pb::ActivateGoalRequest {
        name,
        etag: given_etag,
    } = request;
    let goal_id = GOALS.parse("name", &name)?;

    let mut tx = pool.begin().await?;
    let current = lock_goal(&mut tx, goal_id, GoalLock::Change, || {
        GOALS.not_found(goal_id)
    })
    .await?;
    etag::check(&given_etag, current.revision, ResourceKind::Goal, &name)?;
    match current.state {
        GoalState::Active => return Ok(pb::Goal::from(&current)),
        GoalState::Closed => ensure_open(&current)?,
        GoalState::Draft => {}
    }
    let now = Utc::now();
    let failed: Vec<PreconditionViolation> = framework_checks_at(&current, now)
        .into_iter()
        .filter(|check| !check.passed)
        .map(|check| PreconditionViolation {
            kind: check.check.to_owned(),
            subject: name.clone(),
            description: check.message,
        })
        .collect();
    if !failed.is_empty() {
        let names: Vec<&str> = failed.iter().map(|v| v.kind.as_str()).collect();
        return Err(ApiError::FailedPrecondition {
            reason: "GOAL_CHECKS_FAILED",
            message: format!(
                "the goal fails its framework's checks ({}): see the precondition failure for each, fix them and activate again",
                names.join(", ")
            ),
            violations: failed,
        });
    }
    repo::set_goal_state(&mut *tx, goal_id, GoalState::Active, now).await?;
    let goal = reload(&mut tx, goal_id).await?;
    tx.commit().await?;
    Ok(goal)
}

/// CloseGoal.
pub async fn close(pool: &PgPool, request: pb::CloseGoalRequest) -> Result<pb::Goal, ApiError> {
    let pb::CloseGoalRequest {
        name,
        etag: given_etag,
    } = request;
    let goal_id = GOALS.parse("name", &name)?;

    let mut tx = pool.begin().await?;
    let current = lock_goal(&mut tx, goal_id, GoalLock::Change, || {
        GOALS.not_found(goal_id)
    })
    .await?;
    etag::check(&given_etag, current.revision, ResourceKind::Goal, &name)?;
    match current.state {
        GoalState::Closed => return Ok(pb::Goal::from(&current)),
        GoalState::Draft => {
            return Err(ApiError::failed_precondition(
                "GOAL_IS_DRAFT",
                name,
                "a draft goal was never active and cannot be closed: delete it instead",
            ));
        }
        GoalState::Active => {}
    }
    // The final numbers are those of the closing moment, in the closing
    // transaction: what GetGoalProgress answered just before.
    let now = Utc::now();
    // Closing is rare: the catalog is read in the closing transaction.
    let evaluator = Evaluator::new(&mut tx, &ReadCaches::default(), [&current]).await?;
    let progress = evaluator.goal_progress(&mut tx, &current, now).await?;
    repo::set_goal_state(&mut *tx, goal_id, GoalState::Closed, now).await?;
    repo::record_closing(
        &mut *tx,
        goal_id,
        Closing {
            time: now,
            score: progress.score,
            status: progress.status,
            grade: progress.grade,
        },
    )
    .await?;
    crate::snapshots::record_closing(&mut tx, &current, &progress).await?;
    let goal = reload(&mut tx, goal_id).await?;
    tx.commit().await?;
    Ok(goal)
}
