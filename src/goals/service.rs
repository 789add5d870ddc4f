//! `GoalService`: the tonic implementation delegates to the goal methods
//! ([`super::goal_methods`]), the key result methods ([`super::key_results`])
//! and SetMilestoneDone ([`super::milestones`]); the checks they share live
//! here.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::cache::GoalCache;
use super::model::{Goal, GoalState};
use super::repo::{self, GoalLock};
use super::{catalog, goal_methods, key_results, milestones};
use crate::api::names::{GOALS, KEY_RESULTS};
use crate::api::pagination::PageSizes;
use crate::api::time;
use crate::error::{ApiError, Violations};
use crate::observations::selections::SelectionRollups;
use crate::pb;

/// The gRPC `GoalService`.
#[derive(Debug, Clone)]
pub struct GoalApi {
    pool: PgPool,
    /// Serves GetGoal; every write below forgets its goal in it.
    cache: GoalCache,
    /// Asked to give the selections of a written goal's key results
    /// rollups of their own.
    rollups: SelectionRollups,
    page_sizes: PageSizes,
}

impl GoalApi {
    /// The service over a database pool, serving GetGoal through `cache`
    /// (which the change listener must follow, see [`GoalCache`]), asking
    /// `rollups` for the selections its goals' key results read, and
    /// listing in pages of `page_sizes`.
    pub fn new(
        pool: PgPool,
        cache: GoalCache,
        rollups: SelectionRollups,
        page_sizes: PageSizes,
    ) -> Self {
        GoalApi {
            pool,
            cache,
            rollups,
            page_sizes,
        }
    }

    /// Answers a write to the goal named by `goal_id` once the goal is
    /// forgotten in the cache, whatever came of the write: a write that
    /// failed changed nothing, and forgetting costs one reload. Answering
    /// only after forgetting means a caller told "done" reads the change.
    fn answer<T>(
        &self,
        goal_id: Option<Uuid>,
        written: Result<T, ApiError>,
    ) -> Result<Response<T>, Status> {
        if let Some(goal_id) = goal_id {
            self.cache.forget(goal_id);
        }
        let written = written?;
        if let Some(goal_id) = goal_id {
            self.rollups.request(goal_id);
        }
        Ok(Response::new(written))
    }
}

/// Locks a goal for a change of it or its key results; NOT_FOUND as `missing`
/// says when there is no such goal.
pub(super) async fn lock_goal(
    conn: &mut PgConnection,
    goal_id: Uuid,
    lock: GoalLock,
    missing: impl FnOnce() -> ApiError,
) -> Result<Goal, ApiError> {
    repo::lock_goal(conn, goal_id, lock)
        .await?
        .ok_or_else(missing)
}

/// FAILED_PRECONDITION GOAL_CLOSED for a closed goal: neither it nor its key
/// results change any more.
pub(super) fn ensure_open(goal: &Goal) -> Result<(), ApiError> {
    if goal.state == GoalState::Closed {
        return Err(ApiError::failed_precondition(
            "GOAL_CLOSED",
            GOALS.name(goal.id),
            "the goal is closed: neither it nor its key results change any more",
        ));
    }
    Ok(())
}

/// Records a violation for each checkpoint not strictly inside the active
/// goal's time frame `(start, deadline)`; checkpoints of drafts are checked
/// at activation instead.
pub(super) fn check_checkpoints_in_frame(
    violations: &mut Violations,
    prefix: &str,
    checkpoints: &[pb::key_result::Checkpoint],
    goal: &Goal,
) {
    let (GoalState::Active, Some(start), Some(deadline)) =
        (goal.state, goal.start_time, goal.deadline)
    else {
        return;
    };
    for (index, checkpoint) in checkpoints.iter().enumerate() {
        let Some(at) = checkpoint.time.as_ref().and_then(time::to_utc) else {
            continue;
        };
        if !inside(at, start, deadline) {
            violations.add(
                format!("{prefix}.checkpoints[{index}].time"),
                format!(
                    "must lie strictly between the active goal's start_time {} and deadline {}, got {}",
                    start.to_rfc3339(),
                    deadline.to_rfc3339(),
                    at.to_rfc3339()
                ),
            );
        }
    }
}

/// Whether `at` lies strictly between `start` and `deadline`.
pub(super) fn inside(at: DateTime<Utc>, start: DateTime<Utc>, deadline: DateTime<Utc>) -> bool {
    start < at && at < deadline
}

#[tonic::async_trait]
impl pb::goal_service_server::GoalService for GoalApi {
    async fn list_goal_types(
        &self,
        request: Request<pb::ListGoalTypesRequest>,
    ) -> Result<Response<pb::ListGoalTypesResponse>, Status> {
        let pb::ListGoalTypesRequest {} = request.into_inner();
        Ok(Response::new(pb::ListGoalTypesResponse {
            goal_types: catalog::all()
                .iter()
                .map(pb::GoalTypeDefinition::from)
                .collect(),
        }))
    }

    async fn create_goal(
        &self,
        request: Request<pb::CreateGoalRequest>,
    ) -> Result<Response<pb::Goal>, Status> {
        let goal = goal_methods::create(&self.pool, request.into_inner()).await?;
        if let Some(goal_id) = GOALS.id_of(&goal.name) {
            self.rollups.request(goal_id);
        }
        Ok(Response::new(goal))
    }

    async fn get_goal(
        &self,
        request: Request<pb::GetGoalRequest>,
    ) -> Result<Response<pb::Goal>, Status> {
        Ok(Response::new(
            goal_methods::get(&self.pool, &self.cache, request.into_inner()).await?,
        ))
    }

    async fn list_goals(
        &self,
        request: Request<pb::ListGoalsRequest>,
    ) -> Result<Response<pb::ListGoalsResponse>, Status> {
        Ok(Response::new(
            goal_methods::list(&self.pool, self.page_sizes, request.into_inner()).await?,
        ))
    }

    async fn update_goal(
        &self,
        request: Request<pb::UpdateGoalRequest>,
    ) -> Result<Response<pb::Goal>, Status> {
        let request = request.into_inner();
        let goal_id = request
            .goal
            .as_ref()
            .and_then(|goal| GOALS.id_of(&goal.name));
        self.answer(goal_id, goal_methods::update(&self.pool, request).await)
    }

    async fn delete_goal(
        &self,
        request: Request<pb::DeleteGoalRequest>,
    ) -> Result<Response<()>, Status> {
        let request = request.into_inner();
        let goal_id = GOALS.id_of(&request.name);
        self.answer(goal_id, goal_methods::delete(&self.pool, request).await)
    }

    async fn activate_goal(
        &self,
        request: Request<pb::ActivateGoalRequest>,
    ) -> Result<Response<pb::Goal>, Status> {
        let request = request.into_inner();
        let goal_id = GOALS.id_of(&request.name);
        self.answer(goal_id, goal_methods::activate(&self.pool, request).await)
    }

    async fn close_goal(
        &self,
        request: Request<pb::CloseGoalRequest>,
    ) -> Result<Response<pb::Goal>, Status> {
        let request = request.into_inner();
        let goal_id = GOALS.id_of(&request.name);
        self.answer(goal_id, goal_methods::close(&self.pool, request).await)
    }

    async fn create_key_result(
        &self,
        request: Request<pb::CreateKeyResultRequest>,
    ) -> Result<Response<pb::KeyResult>, Status> {
        let request = request.into_inner();
        let goal_id = GOALS.id_of(&request.parent);
        self.answer(goal_id, key_results::create(&self.pool, request).await)
    }

    async fn get_key_result(
        &self,
        request: Request<pb::GetKeyResultRequest>,
    ) -> Result<Response<pb::KeyResult>, Status> {
        Ok(Response::new(
            key_results::get(&self.pool, request.into_inner()).await?,
        ))
    }

    async fn update_key_result(
        &self,
        request: Request<pb::UpdateKeyResultRequest>,
    ) -> Result<Response<pb::KeyResult>, Status> {
        let request = request.into_inner();
        let goal_id = request
            .key_result
            .as_ref()
            .and_then(|key_result| KEY_RESULTS.ids_of(&key_result.name))
            .map(|(goal_id, _)| goal_id);
        self.answer(goal_id, key_results::update(&self.pool, request).await)
    }

    async fn delete_key_result(
        &self,
        request: Request<pb::DeleteKeyResultRequest>,
    ) -> Result<Response<()>, Status> {
        let request = request.into_inner();
        let goal_id = KEY_RESULTS
            .ids_of(&request.name)
            .map(|(goal_id, _)| goal_id);
        self.answer(goal_id, key_results::delete(&self.pool, request).await)
    }

    async fn set_milestone_done(
        &self,
        request: Request<pb::SetMilestoneDoneRequest>,
    ) -> Result<Response<pb::KeyResult>, Status> {
        let request = request.into_inner();
        let goal_id = KEY_RESULTS
            .ids_of(&request.key_result)
            .map(|(goal_id, _)| goal_id);
        self.answer(goal_id, milestones::set_done(&self.pool, request).await)
    }
}
