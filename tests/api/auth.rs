//! Authentication and scopes through real gRPC: which calls need which
//! token, what refusals look like, anonymous mode, start-up refusal beyond
//! loopback, provenance, and the `goalpost token` commands.

mod cli;
mod enforcement;
mod method_scopes;
mod provenance;
mod startup;

use goalpost::auth::client::BearerToken;
use goalpost::auth::scopes::{Scope, ScopeSet};
use goalpost::auth::tokens::{self, TokenName};
use goalpost::pb::audit_service_client::AuditServiceClient;
use goalpost::pb::metric_service_client::MetricServiceClient;
use sqlx::PgPool;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::helpers::TestApp;

/// A channel that sends a bearer token (or none) on every call.
pub(crate) type Authed = InterceptedService<Channel, BearerToken>;

/// Creates a live token named `name` with `scopes` in `pool`'s database and
/// returns its secret.
pub(crate) async fn create_token(pool: &PgPool, name: &str, scopes: &[Scope]) -> String {
    let name = TokenName::parse(name).expect("a valid token name");
    let (secret, _) = tokens::create(pool, &name, ScopeSet::of(scopes.iter().copied()))
        .await
        .expect("create a token");
    secret.expose().to_owned()
}

/// Revokes the token named `name`.
pub(crate) async fn revoke_token(app: &TestApp, name: &str) {
    let mut conn = app.pool.acquire().await.expect("a connection");
    let name = TokenName::parse(name).expect("a valid token name");
    tokens::revoke(&mut conn, &name)
        .await
        .expect("revoke the token");
}

/// The app's channel sending `token` as `authorization: Bearer <token>`.
pub(crate) fn authed(app: &TestApp, token: &str) -> Authed {
    InterceptedService::new(
        app.channel.clone(),
        BearerToken::new(Some(token)).expect("a token that fits in metadata"),
    )
}

/// An AuditService client sending `token`.
pub(crate) fn audits_as(app: &TestApp, token: &str) -> AuditServiceClient<Authed> {
    AuditServiceClient::new(authed(app, token))
}

/// A MetricService client sending `token`.
pub(crate) fn metrics_as(app: &TestApp, token: &str) -> MetricServiceClient<Authed> {
    MetricServiceClient::new(authed(app, token))
}

/// A ListAccounts call, the cheapest read, as `token` (or without one).
pub(crate) async fn list_accounts(app: &TestApp, token: Option<&str>) -> Result<(), tonic::Status> {
    let mut client = AuditServiceClient::new(InterceptedService::new(
        app.channel.clone(),
        BearerToken::new(token).expect("a token that fits in metadata"),
    ));
    client
        .list_accounts(goalpost::pb::ListAccountsRequest::default())
        .await
        .map(|_| ())
}
