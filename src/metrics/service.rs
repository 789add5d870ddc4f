//! `MetricService`. The catalog and observation ingestion are the next issue;
//! until it lands every method answers UNIMPLEMENTED and says so.

use tonic::{Request, Response, Status, Streaming};

use crate::error::ApiError;
use crate::pb;

const MISSING: &str =
    "the metric catalog API and observation ingestion have not landed in this build";

/// The gRPC `MetricService`.
#[derive(Debug, Clone, Default)]
pub struct MetricApi;

#[tonic::async_trait]
impl pb::metric_service_server::MetricService for MetricApi {
    async fn list_metric_definitions(
        &self,
        _: Request<pb::ListMetricDefinitionsRequest>,
    ) -> Result<Response<pb::ListMetricDefinitionsResponse>, Status> {
        Err(ApiError::not_yet(
            "goalpost.v1.MetricService/ListMetricDefinitions",
            MISSING,
        ))
    }

    async fn get_metric_definition(
        &self,
        _: Request<pb::GetMetricDefinitionRequest>,
    ) -> Result<Response<pb::MetricDefinition>, Status> {
        Err(ApiError::not_yet(
            "goalpost.v1.MetricService/GetMetricDefinition",
            MISSING,
        ))
    }

    async fn create_metric_definition(
        &self,
        _: Request<pb::CreateMetricDefinitionRequest>,
    ) -> Result<Response<pb::MetricDefinition>, Status> {
        Err(ApiError::not_yet(
            "goalpost.v1.MetricService/CreateMetricDefinition",
            MISSING,
        ))
    }

    async fn write_observations(
        &self,
        _: Request<pb::WriteObservationsRequest>,
    ) -> Result<Response<pb::WriteObservationsResponse>, Status> {
        Err(ApiError::not_yet(
            "goalpost.v1.MetricService/WriteObservations",
            MISSING,
        ))
    }

    async fn stream_observations(
        &self,
        _: Request<Streaming<pb::StreamObservationsRequest>>,
    ) -> Result<Response<pb::StreamObservationsResponse>, Status> {
        Err(ApiError::not_yet(
            "goalpost.v1.MetricService/StreamObservations",
            MISSING,
        ))
    }

    async fn list_observations(
        &self,
        _: Request<pb::ListObservationsRequest>,
    ) -> Result<Response<pb::ListObservationsResponse>, Status> {
        Err(ApiError::not_yet(
            "goalpost.v1.MetricService/ListObservations",
            MISSING,
        ))
    }

    async fn query_metric(
        &self,
        _: Request<pb::QueryMetricRequest>,
    ) -> Result<Response<pb::QueryMetricResponse>, Status> {
        Err(ApiError::not_yet(
            "goalpost.v1.MetricService/QueryMetric",
            MISSING,
        ))
    }
}
