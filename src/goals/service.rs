//! `GoalService`. Goals and key results are a later issue; until it lands
//! every method answers UNIMPLEMENTED and says so.

use tonic::{Request, Response, Status};

use crate::error::ApiError;
use crate::pb;

const MISSING: &str = "goals and key results have not landed in this build";

/// The gRPC `GoalService`.
#[derive(Debug, Clone, Default)]
pub struct GoalApi;

#[tonic::async_trait]
impl pb::goal_service_server::GoalService for GoalApi {
    async fn list_goal_types(
        &self,
        _: Request<pb::ListGoalTypesRequest>,
    ) -> Result<Response<pb::ListGoalTypesResponse>, Status> {
        Err(ApiError::not_yet(
            "goalpost.v1.GoalService/ListGoalTypes",
            MISSING,
        ))
    }

    async fn create_goal(
        &self,
        _: Request<pb::CreateGoalRequest>,
    ) -> Result<Response<pb::Goal>, Status> {
        Err(ApiError::not_yet(
            "goalpost.v1.GoalService/CreateGoal",
            MISSING,
        ))
    }

    async fn get_goal(&self, _: Request<pb::GetGoalRequest>) -> Result<Response<pb::Goal>, Status> {
        Err(ApiError::not_yet(
            "goalpost.v1.GoalService/GetGoal",
            MISSING,
        ))
    }

    async fn list_goals(
        &self,
        _: Request<pb::ListGoalsRequest>,
    ) -> Result<Response<pb::ListGoalsResponse>, Status> {
        Err(ApiError::not_yet(
            "goalpost.v1.GoalService/ListGoals",
            MISSING,
        ))
    }

    async fn update_goal(
        &self,
        _: Request<pb::UpdateGoalRequest>,
    ) -> Result<Response<pb::Goal>, Status> {
        Err(ApiError::not_yet(
            "goalpost.v1.GoalService/UpdateGoal",
            MISSING,
        ))
    }

    async fn delete_goal(&self, _: Request<pb::DeleteGoalRequest>) -> Result<Response<()>, Status> {
        Err(ApiError::not_yet(
            "goalpost.v1.GoalService/DeleteGoal",
            MISSING,
        ))
    }

    async fn activate_goal(
        &self,
        _: Request<pb::ActivateGoalRequest>,
    ) -> Result<Response<pb::Goal>, Status> {
        Err(ApiError::not_yet(
            "goalpost.v1.GoalService/ActivateGoal",
            MISSING,
        ))
    }

    async fn close_goal(
        &self,
        _: Request<pb::CloseGoalRequest>,
    ) -> Result<Response<pb::Goal>, Status> {
        Err(ApiError::not_yet(
            "goalpost.v1.GoalService/CloseGoal",
            MISSING,
        ))
    }

    async fn create_key_result(
        &self,
        _: Request<pb::CreateKeyResultRequest>,
    ) -> Result<Response<pb::KeyResult>, Status> {
        Err(ApiError::not_yet(
            "goalpost.v1.GoalService/CreateKeyResult",
            MISSING,
        ))
    }

    async fn get_key_result(
        &self,
        _: Request<pb::GetKeyResultRequest>,
    ) -> Result<Response<pb::KeyResult>, Status> {
        Err(ApiError::not_yet(
            "goalpost.v1.GoalService/GetKeyResult",
            MISSING,
        ))
    }

    async fn update_key_result(
        &self,
        _: Request<pb::UpdateKeyResultRequest>,
    ) -> Result<Response<pb::KeyResult>, Status> {
        Err(ApiError::not_yet(
            "goalpost.v1.GoalService/UpdateKeyResult",
            MISSING,
        ))
    }

    async fn delete_key_result(
        &self,
        _: Request<pb::DeleteKeyResultRequest>,
    ) -> Result<Response<()>, Status> {
        Err(ApiError::not_yet(
            "goalpost.v1.GoalService/DeleteKeyResult",
            MISSING,
        ))
    }

    async fn set_milestone_done(
        &self,
        _: Request<pb::SetMilestoneDoneRequest>,
    ) -> Result<Response<pb::KeyResult>, Status> {
        Err(ApiError::not_yet(
            "goalpost.v1.GoalService/SetMilestoneDone",
            MISSING,
        ))
    }
}
