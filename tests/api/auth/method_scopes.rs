//! Every method of every goalpost service, called through real gRPC with a
//! token lacking its scope and with one holding it. The expected scopes are
//! written out here, apart from the server's table, and checked against the
//! methods the protos describe, so a new method cannot go unchecked.

use std::collections::BTreeSet;

use goalpost::auth::scopes::Scope;
use prost::Message;
use tonic::Code;

use super::{authed, create_token};
use crate::helpers::{TestApp, spawn_app};

/// What each method needs, as the README documents it.
const EXPECTED: &[(&str, &str, Scope)] = &[
    ("AuditService", "CreateAccount", Scope::Write),
    ("AuditService", "GetAccount", Scope::Read),
    ("AuditService", "ListAccounts", Scope::Read),
    ("AuditService", "UpdateAccount", Scope::Write),
    ("AuditService", "DeleteAccount", Scope::Write),
    ("AuditService", "CreateAudit", Scope::Write),
    ("AuditService", "GetAudit", Scope::Read),
    ("AuditService", "ListAudits", Scope::Read),
    ("AuditService", "UpsertAuditEntry", Scope::Write),
    ("AuditService", "CompleteAudit", Scope::Write),
    ("GoalService", "ListGoalTypes", Scope::Read),
    ("GoalService", "CreateGoal", Scope::Write),
    ("GoalService", "GetGoal", Scope::Read),
    ("GoalService", "ListGoals", Scope::Read),
    ("GoalService", "UpdateGoal", Scope::Write),
    ("GoalService", "DeleteGoal", Scope::Write),
    ("GoalService", "ActivateGoal", Scope::Write),
    ("GoalService", "CloseGoal", Scope::Write),
    ("GoalService", "CreateKeyResult", Scope::Write),
    ("GoalService", "GetKeyResult", Scope::Read),
    ("GoalService", "UpdateKeyResult", Scope::Write),
    ("GoalService", "DeleteKeyResult", Scope::Write),
    ("GoalService", "SetMilestoneDone", Scope::Write),
    ("MetricService", "ListMetricDefinitions", Scope::Read),
    ("MetricService", "GetMetricDefinition", Scope::Read),
    ("MetricService", "CreateMetricDefinition", Scope::Write),
    ("MetricService", "WriteObservations", Scope::Ingest),
    ("MetricService", "StreamObservations", Scope::Ingest),
    ("MetricService", "ListObservations", Scope::Read),
    ("MetricService", "QueryMetric", Scope::Read),
    ("ProgressService", "GetGoalProgress", Scope::Read),
    ("ProgressService", "ListGoalProgress", Scope::Read),
    ("ProgressService", "GetProgressHistory", Scope::Read),
    ("ProgressService", "WatchGoalProgress", Scope::Read),
    ("ProgressService", "CheckGoal", Scope::Read),
];

/// A method as the descriptor set describes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Method {
    path: String,
    client_streaming: bool,
    server_streaming: bool,
}

fn described_methods() -> Vec<Method> {
    let set = prost_types::FileDescriptorSet::decode(goalpost::pb::FILE_DESCRIPTOR_SET)
        .expect("the descriptor set decodes");
    let mut methods = Vec::new();
    for file in &set.file {
        for service in &file.service {
            for method in &service.method {
                methods.push(Method {
                    path: format!("/{}.{}/{}", file.package(), service.name(), method.name()),
                    client_streaming: method.client_streaming(),
                    server_streaming: method.server_streaming(),
                });
            }
        }
    }
    methods.sort();
    methods
}

fn expected_scope(path: &str) -> Option<Scope> {
    EXPECTED
        .iter()
        .find(|(service, method, _)| path == format!("/goalpost.v1.{service}/{method}"))
        .map(|(_, _, scope)| *scope)
}

/// Calls `method` with empty request messages (a request stream of one
/// empty message) and returns the status code: the messages are mostly
/// invalid, which is fine, as only the authentication codes matter here.
async fn call_empty(app: &TestApp, token: &str, method: &Method) -> Code {
    let mut grpc = tonic::client::Grpc::new(authed(app, token));
    grpc.ready().await.expect("the channel is ready");
    let path = http::uri::PathAndQuery::try_from(method.path.as_str()).expect("a path");
    // `()` encodes as an empty message and decodes any message.
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    let once = || tokio_stream::iter([()]);
    let result = match (method.client_streaming, method.server_streaming) {
        (false, false) => grpc
            .unary(tonic::Request::new(()), path, codec)
            .await
            .map(drop),
        (true, false) => grpc
            .client_streaming(tonic::Request::new(once()), path, codec)
            .await
            .map(drop),
        (false, true) => grpc
            .server_streaming(tonic::Request::new(()), path, codec)
            .await
            .map(drop),
        (true, true) => grpc
            .streaming(tonic::Request::new(once()), path, codec)
            .await
            .map(drop),
    };
    match result {
        Ok(()) => Code::Ok,
        Err(status) => status.code(),
    }
}

#[test]
fn the_expected_scopes_cover_every_described_method() {
    let described: BTreeSet<String> = described_methods()
        .into_iter()
        .map(|method| method.path)
        .collect();
    let expected: BTreeSet<String> = EXPECTED
        .iter()
        .map(|(service, method, _)| format!("/goalpost.v1.{service}/{method}"))
        .collect();
    assert_eq!(described, expected);
}

#[tokio::test]
async fn every_method_needs_its_scope_and_accepts_a_token_holding_it() {
    let app = spawn_app().await;
    // For each scope, a token holding only it and one holding every other
    // scope but admin.
    let mut only = Vec::new();
    let mut all_but = Vec::new();
    for scope in [Scope::Read, Scope::Write, Scope::Ingest] {
        let others: Vec<Scope> = [Scope::Read, Scope::Write, Scope::Ingest]
            .into_iter()
            .filter(|other| *other != scope)
            .collect();
        only.push((
            scope,
            create_token(&app.pool, &format!("only-{scope}"), &[scope]).await,
        ));
        all_but.push((
            scope,
            create_token(&app.pool, &format!("all-but-{scope}"), &others).await,
        ));
    }
    let admin = create_token(&app.pool, "admin", &[Scope::Admin]).await;
    let token_for = |tokens: &[(Scope, String)], scope: Scope| {
        tokens
            .iter()
            .find(|(held, _)| *held == scope)
            .map(|(_, token)| token.clone())
            .expect("a token per scope")
    };

    let mut failures = Vec::new();
    for method in described_methods() {
        let scope = expected_scope(&method.path).expect("every method has an expectation");
        let lacking = call_empty(&app, &token_for(&all_but, scope), &method).await;
        if lacking != Code::PermissionDenied {
            failures.push(format!(
                "{}: a token without {scope} got {lacking:?}",
                method.path
            ));
        }
        for (holder, token) in [("only", token_for(&only, scope)), ("admin", admin.clone())] {
            let code = call_empty(&app, &token, &method).await;
            if matches!(code, Code::PermissionDenied | Code::Unauthenticated) {
                failures.push(format!(
                    "{}: a token with {holder} {scope} got {code:?}",
                    method.path
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
