//! SetMilestoneDone: marks one milestone of a milestone key result done (at
//! a time that may be backdated) or not done.

use chrono::Utc;
use sqlx::PgPool;
use uuid::Uuid;

use super::model::Measure;
use super::repo::{self, GoalLock};
use super::service::{ensure_open, lock_goal};
use crate::api::names::KEY_RESULTS;
use crate::api::{etag, time};
use crate::error::{ApiError, ResourceKind, Violations};
use crate::pb;

/// SetMilestoneDone.
pub async fn set_done(
    pool: &PgPool,
    request: pb::SetMilestoneDoneRequest,
) -> Result<pb::KeyResult, ApiError> {
    let pb::SetMilestoneDoneRequest {
        key_result,
        milestone_id,
        done,
        done_time,
        etag: given_etag,
    } = request;
    let now = Utc::now();
    let mut violations = Violations::default();
    let ids = violations.absorb(KEY_RESULTS.parse("key_result", &key_result));
    let milestone = if milestone_id.is_empty() {
        violations.add(
            "milestone_id",
            "is required: the id of one of the key result's milestones",
        );
        None
    } else {
        let parsed = Uuid::try_parse(&milestone_id).ok();
        if parsed.is_none() {
            violations.add(
                "milestone_id",
                format!("must be a milestone's id, a UUID, got {milestone_id:?}"),
            );
        }
        parsed
    };
    let given_time = match (&done_time, done) {
        (None, _) => None,
        (Some(_), false) => {
            violations.add("done_time", "must be absent when done is false");
            None
        }
        (Some(timestamp), true) => {
            let at = violations.absorb(time::from_proto("done_time", timestamp));
            if let Some(at) = at
                && at > now
            {
                violations.add(
                    "done_time",
                    format!(
                        "must not be in the future, got {} (now is {})",
                        at.to_rfc3339(),
                        now.to_rfc3339()
                    ),
                );
            }
            at
        }
    };
    let (Some((goal_id, key_result_id)), Some(milestone_id)) =
        violations.finish((ids, milestone))?
    else {
        return Err(ApiError::internal("validated fields missing"));
    };

    let mut tx = pool.begin().await?;
    let goal = lock_goal(&mut tx, goal_id, GoalLock::Change, || {
        KEY_RESULTS.not_found(goal_id, key_result_id)
    })
    .await?;
    let current = goal
        .key_results
        .iter()
        .find(|candidate| candidate.id == key_result_id)
        .ok_or_else(|| KEY_RESULTS.not_found(goal_id, key_result_id))?;
    etag::check(
        &given_etag,
        current.revision,
        ResourceKind::KeyResult,
        &key_result,
    )?;
    ensure_open(&goal)?;
    let Measure::Milestones(milestones) = &current.measure else {
        return Err(ApiError::failed_precondition(
            "KEY_RESULT_NOT_MILESTONE",
            key_result,
            "the key result is measured by a metric and has no milestones",
        ));
    };
    let milestone = milestones
        .iter()
        .find(|candidate| candidate.id == milestone_id)
        .ok_or_else(|| ApiError::NotFound {
            kind: ResourceKind::Milestone,
            name: format!("{key_result}/milestones/{milestone_id}"),
        })?;
    // Done again keeps the recorded time unless a new one is given.
    let new_time = done.then(|| given_time.or(milestone.done_time).unwrap_or(now));
    if new_time != milestone.done_time {
        repo::set_milestone_done_time(&mut tx, key_result_id, milestone_id, new_time).await?;
    }
    let updated = repo::get_key_result(&mut tx, goal_id, key_result_id)
        .await?
        .ok_or_else(|| KEY_RESULTS.not_found(goal_id, key_result_id))?;
    tx.commit().await?;
    Ok(pb::KeyResult::from(&updated))
}
