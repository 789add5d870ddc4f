//! The key result methods of `GoalService`. Every write locks the key
//! result's goal first, so writes to one goal's key results (and the goal's
//! own state) are serialised: the limit of 20, a closed goal and an active
//! goal's time frame are checked against what is really stored.

use std::collections::HashSet;

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::convert::{KEY_RESULT_UPDATABLE_FIELDS, apply_key_result_mask, key_result_is_populated};
use super::key_result_input::{self, MilestoneIds, ParsedKeyResult};
use super::model::{Goal, KeyResult, Measure};
use super::repo::{self, GoalLock};
use super::service::{check_checkpoints_in_frame, ensure_open, lock_goal};
use crate::accounts;
use crate::api::names::{ACCOUNTS, GOALS, KEY_RESULTS, new_id};
use crate::api::{etag, field_mask, idempotency};
use crate::error::{ApiError, ResourceKind, Violations};
use crate::pb;

/// The most key results one goal holds.
pub const MAX_KEY_RESULTS_PER_GOAL: i64 = 20;

/// Records violations for references the catalog or the inventory does not
/// know: the metric key and the accounts.
async fn check_references(
    conn: &mut PgConnection,
    violations: &mut Violations,
    parsed: &ParsedKeyResult,
) -> Result<(), ApiError> {
    if let Some(metric_key) = &parsed.metric_key
        && repo::is_unknown_metric(&mut *conn, metric_key).await?
    {
        violations.add(
            "key_result.metric_key",
            format!(
                "{metric_key:?} is not a metric of the catalog: see ListMetricDefinitions, or create it first"
            ),
        );
    }
    if !parsed.accounts.is_empty() {
        let ids: Vec<Uuid> = parsed.accounts.iter().map(|(_, id)| *id).collect();
        let missing: HashSet<Uuid> = accounts::repo::missing(&mut *conn, &ids)
            .await?
            .into_iter()
            .collect();
        for (index, id) in &parsed.accounts {
            if missing.contains(id) {
                violations.add(
                    format!("key_result.accounts[{index}]"),
                    format!(
                        "{} does not exist: create the account first",
                        ACCOUNTS.name(*id)
                    ),
                );
            }
        }
    }
    Ok(())
}

/// The key result `key_result_id` of a locked goal, or NOT_FOUND.
fn find(goal: &Goal, key_result_id: Uuid) -> Result<&KeyResult, ApiError> {
    goal.key_results
        .iter()
        .find(|key_result| key_result.id == key_result_id)
        .ok_or_else(|| KEY_RESULTS.not_found(goal.id, key_result_id))
}

/// Reads a key result back after a write in the same transaction.
async fn reload(
    conn: &mut PgConnection,
    goal_id: Uuid,
    key_result_id: Uuid,
) -> Result<pb::KeyResult, ApiError> {
    let key_result = repo::get_key_result(conn, goal_id, key_result_id)
        .await?
        .ok_or_else(|| KEY_RESULTS.not_found(goal_id, key_result_id))?;
    Ok(pb::KeyResult::from(&key_result))
}

/// CreateKeyResult.
pub async fn create(
    pool: &PgPool,
    request: pb::CreateKeyResultRequest,
) -> Result<pb::KeyResult, ApiError> {
    let mut violations = Violations::default();
    let request_id = idempotency::parse_request_id(&mut violations, &request.request_id);
    let goal_id = violations.absorb(GOALS.parse("parent", &request.parent));
    if request.key_result.is_none() {
        violations.add("key_result", "is required");
    }
    let key_result = request.key_result.clone().unwrap_or_default();
    let parsed = key_result_input::parse(
        &mut violations,
        "key_result",
        &key_result,
        MilestoneIds::Ignore,
    );
    let Some(goal_id) = goal_id else {
        return Err(violations.into_error());
    };

    idempotency::once(pool, request_id, "CreateKeyResult", &request, async move |tx| {
        let goal = lock_goal(&mut *tx, goal_id, GoalLock::Change, || {
            GOALS.not_found(goal_id)
        })
        .await?;
        ensure_open(&goal)?;
        check_references(&mut *tx, &mut violations, &parsed).await?;
        check_checkpoints_in_frame(&mut violations, "key_result", &key_result.checkpoints, &goal);
        let fields = violations
            .finish(parsed.fields)?
            .ok_or_else(|| ApiError::internal("validated fields missing"))?;
        if goal.key_results.len() as i64 >= MAX_KEY_RESULTS_PER_GOAL {
            return Err(ApiError::failed_precondition(
                "KEY_RESULT_LIMIT",
                GOALS.name(goal_id),
                format!(
                    "the goal already holds {} key results, the most a goal may have: delete one first",
                    goal.key_results.len()
                ),
            ));
        }
        let key_result_id = new_id();
        repo::insert_key_result(&mut *tx, goal_id, key_result_id, &fields).await?;
        reload(tx, goal_id, key_result_id).await
    })
    .await
}

/// GetKeyResult.
pub async fn get(
    pool: &PgPool,
    request: pb::GetKeyResultRequest,
) -> Result<pb::KeyResult, ApiError> {
    let pb::GetKeyResultRequest { name } = request;
    let (goal_id, key_result_id) = KEY_RESULTS.parse("name", &name)?;
    reload(&mut *pool.acquire().await?, goal_id, key_result_id).await
}

/// Refuses `kind` in an update mask with a message saying why: the kind
/// decides which fields a key result has, so it is fixed at creation.
fn refuse_kind_in_mask(mask: Option<&prost_types::FieldMask>) -> Result<(), ApiError> {
    let mut violations = Violations::default();
    for (index, path) in mask.iter().flat_map(|m| m.paths.iter()).enumerate() {
        if path == "kind" {
            violations.add(
                format!("update_mask.paths[{index}]"),
                "kind cannot change after creation: delete the key result and create one of the other kind",
            );
        }
    }
    violations.finish(())
}

/// UpdateKeyResult.
pub async fn update(
    pool: &PgPool,
    request: pb::UpdateKeyResultRequest,
) -> Result<pb::KeyResult, ApiError> {
    let pb::UpdateKeyResultRequest {
        key_result,
        update_mask,
    } = request;
    let Some(changes) = key_result else {
        return Err(ApiError::invalid_field("key_result", "is required"));
    };
    let (goal_id, key_result_id) = KEY_RESULTS.parse("key_result.name", &changes.name)?;
    refuse_kind_in_mask(update_mask.as_ref())?;
    let paths = field_mask::resolve(update_mask.as_ref(), KEY_RESULT_UPDATABLE_FIELDS, |path| {
        key_result_is_populated(&changes, path)
    })?;

    let mut tx = pool.begin().await?;
    let goal = lock_goal(&mut tx, goal_id, GoalLock::Change, || {
        KEY_RESULTS.not_found(goal_id, key_result_id)
    })
    .await?;
    let current = find(&goal, key_result_id)?;
    etag::check(
        &changes.etag,
        current.revision,
        ResourceKind::KeyResult,
        &changes.name,
    )?;
    ensure_open(&goal)?;

    let mut merged = pb::KeyResult::from(current);
    let mut violations = Violations::default();
    if changes.kind != 0 && changes.kind != merged.kind {
        violations.add(
            "key_result.kind",
            "cannot change after creation: delete the key result and create one of the other kind",
        );
    }
    apply_key_result_mask(&mut merged, &changes, &paths);
    let stored_milestones = match &current.measure {
        Measure::Milestones(milestones) => milestones.as_slice(),
        Measure::Metric(_) => &[],
    };
    let parsed = key_result_input::parse(
        &mut violations,
        "key_result",
        &merged,
        MilestoneIds::Keep(stored_milestones),
    );
    check_references(&mut tx, &mut violations, &parsed).await?;
    check_checkpoints_in_frame(&mut violations, "key_result", &merged.checkpoints, &goal);
    let fields = violations
        .finish(parsed.fields)?
        .ok_or_else(|| ApiError::internal("validated fields missing"))?;
    repo::update_key_result(&mut tx, key_result_id, &fields).await?;
    let updated = reload(&mut tx, goal_id, key_result_id).await?;
    tx.commit().await?;
    Ok(updated)
}

/// DeleteKeyResult.
pub async fn delete(pool: &PgPool, request: pb::DeleteKeyResultRequest) -> Result<(), ApiError> {
    let pb::DeleteKeyResultRequest {
        name,
        etag: given_etag,
    } = request;
    let (goal_id, key_result_id) = KEY_RESULTS.parse("name", &name)?;

    let mut tx = pool.begin().await?;
    let goal = lock_goal(&mut tx, goal_id, GoalLock::Change, || {
        KEY_RESULTS.not_found(goal_id, key_result_id)
    })
    .await?;
    let current = find(&goal, key_result_id)?;
    etag::check(
        &given_etag,
        current.revision,
        ResourceKind::KeyResult,
        &name,
    )?;
    ensure_open(&goal)?;
    repo::delete_key_result(&mut *tx, key_result_id).await?;
    tx.commit().await?;
    Ok(())
}
