//! `ProgressService`. The progress math is a later issue; until it lands
//! every method answers UNIMPLEMENTED and says so.

use std::pin::Pin;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::error::ApiError;
use crate::pb;

const MISSING: &str = "goal progress has not landed in this build";

/// The gRPC `ProgressService`.
#[derive(Debug, Clone, Default)]
pub struct ProgressApi;

/// The stream type of WatchGoalProgress.
pub type GoalProgressStream =
    Pin<Box<dyn Stream<Item = Result<pb::GoalProgress, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl pb::progress_service_server::ProgressService for ProgressApi {
    type WatchGoalProgressStream = GoalProgressStream;

    async fn get_goal_progress(
        &self,
        _: Request<pb::GetGoalProgressRequest>,
    ) -> Result<Response<pb::GoalProgress>, Status> {
        Err(ApiError::not_yet(
            "goalpost.v1.ProgressService/GetGoalProgress",
            MISSING,
        ))
    }

    async fn list_goal_progress(
        &self,
        _: Request<pb::ListGoalProgressRequest>,
    ) -> Result<Response<pb::ListGoalProgressResponse>, Status> {
        Err(ApiError::not_yet(
            "goalpost.v1.ProgressService/ListGoalProgress",
            MISSING,
        ))
    }

    async fn get_progress_history(
        &self,
        _: Request<pb::GetProgressHistoryRequest>,
    ) -> Result<Response<pb::GetProgressHistoryResponse>, Status> {
        Err(ApiError::not_yet(
            "goalpost.v1.ProgressService/GetProgressHistory",
            MISSING,
        ))
    }

    async fn watch_goal_progress(
        &self,
        _: Request<pb::WatchGoalProgressRequest>,
    ) -> Result<Response<Self::WatchGoalProgressStream>, Status> {
        Err(ApiError::not_yet(
            "goalpost.v1.ProgressService/WatchGoalProgress",
            MISSING,
        ))
    }

    async fn check_goal(
        &self,
        _: Request<pb::CheckGoalRequest>,
    ) -> Result<Response<pb::CheckGoalResponse>, Status> {
        Err(ApiError::not_yet(
            "goalpost.v1.ProgressService/CheckGoal",
            MISSING,
        ))
    }
}
