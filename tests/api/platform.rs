//! What every deployment offers besides the API: health, reflection, and
//! honest UNIMPLEMENTED answers for methods whose issue has not landed.

use goalpost::db::local::{LocalPostgres, LocalPostgresOptions};
use goalpost::pb;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::{v1, v1alpha};

use crate::helpers::{assert_error, spawn_app, start_on};

#[tokio::test]
async fn health_reports_every_service_serving() {
    let app = spawn_app().await;
    let mut health = HealthClient::new(app.channel.clone());
    for service in [
        "",
        "goalpost.v1.AuditService",
        "goalpost.v1.MetricService",
        "goalpost.v1.GoalService",
        "goalpost.v1.ProgressService",
    ] {
        let response = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap_or_else(|e| panic!("{service}: {e:?}"))
            .into_inner();
        assert_eq!(response.status(), ServingStatus::Serving, "{service:?}");
    }
}

#[tokio::test]
async fn reflection_v1_lists_the_services_and_serves_documented_descriptors() {
    let app = spawn_app().await;
    let mut client = v1::server_reflection_client::ServerReflectionClient::new(app.channel.clone());
    let requests = tokio_stream::iter([
        v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            )),
        },
        v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(
                v1::server_reflection_request::MessageRequest::FileContainingSymbol(
                    "goalpost.v1.AuditService".into(),
                ),
            ),
        },
        v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(
                v1::server_reflection_request::MessageRequest::FileContainingSymbol(
                    "google.rpc.BadRequest".into(),
                ),
            ),
        },
    ]);
    let mut responses = client
        .server_reflection_info(requests)
        .await
        .unwrap()
        .into_inner();

    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        responses.next().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    let services: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "goalpost.v1.AuditService",
        "goalpost.v1.MetricService",
        "goalpost.v1.GoalService",
        "goalpost.v1.ProgressService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            services.iter().any(|s| s == expected),
            "{expected} missing from {services:?}"
        );
    }

    for symbol in ["goalpost.v1.AuditService", "google.rpc.BadRequest"] {
        let Some(v1::server_reflection_response::MessageResponse::FileDescriptorResponse(files)) =
            responses.next().await.unwrap().unwrap().message_response
        else {
            panic!("expected descriptors for {symbol}");
        };
        assert!(!files.file_descriptor_proto.is_empty(), "{symbol}");
        if symbol == "goalpost.v1.AuditService" {
            let file: prost_types::FileDescriptorProto =
                prost::Message::decode(files.file_descriptor_proto[0].as_slice()).unwrap();
            let comments = file.source_code_info.expect("source info with comments");
            assert!(
                comments.location.iter().any(|l| l
                    .leading_comments()
                    .contains("inventory of the company's social accounts")),
                "the service's doc comment is served"
            );
        }
    }
}

#[tokio::test]
async fn reflection_v1alpha_serves_older_clients_such_as_grpcurl_1_8() {
    let app = spawn_app().await;
    let mut client =
        v1alpha::server_reflection_client::ServerReflectionClient::new(app.channel.clone());
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        responses.next().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    assert!(
        list.service
            .iter()
            .any(|s| s.name == "goalpost.v1.AuditService")
    );
}

#[tokio::test]
async fn calls_answer_unavailable_while_the_database_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let postgres = LocalPostgres::start(LocalPostgresOptions {
        data_dir: dir.path().to_path_buf(),
        ephemeral: true,
    })
    .await
    .unwrap();
    let app = start_on(postgres.database_url("goalpost")).await;
    let account = app
        .create_account(pb::account::Network::Facebook, "acme")
        .await;
    postgres.stop().await.unwrap();

    let started = std::time::Instant::now();
    let error = app
        .audits()
        .get_account(pb::GetAccountRequest { name: account.name })
        .await
        .unwrap_err();
    assert_error(&error, Code::Unavailable, "DATABASE_UNAVAILABLE");
    assert!(
        tonic_types::StatusExt::get_error_details(&error)
            .retry_info()
            .is_some(),
        "tells the caller to retry"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "fails within the pool's acquire timeout"
    );
}
