//! What calls without a valid token get, what stays open, anonymous mode,
//! and how long verdicts are cached.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use goalpost::auth::scopes::Scope;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt};

use super::{create_token, list_accounts, revoke_token};
use crate::helpers::{assert_error, spawn_app_with};

#[tokio::test]
async fn calls_without_a_token_are_anonymous_until_the_first_token_exists() {
    let app = spawn_app_with(|settings| settings.token_cache_secs = 0).await;
    list_accounts(&app, None)
        .await
        .expect("no token exists yet: anonymous mode");

    let token = create_token(&app.pool, "first", &[Scope::Read]).await;
    let status = list_accounts(&app, None).await.unwrap_err();
    assert_error(&status, Code::Unauthenticated, "TOKEN_MISSING");
    assert!(
        status.message().contains("authorization: Bearer <token>"),
        "the message says how to authenticate: {status:?}"
    );
    assert_eq!(
        status.metadata().get("www-authenticate").unwrap(),
        r#"Bearer realm="goalpost""#
    );
    list_accounts(&app, Some(&token))
        .await
        .expect("the token is accepted");
}

#[tokio::test]
async fn missing_malformed_unknown_and_revoked_tokens_are_unauthenticated() {
    let app = spawn_app_with(|settings| settings.token_cache_secs = 0).await;
    let live = create_token(&app.pool, "live", &[Scope::Admin]).await;
    let revoked = create_token(&app.pool, "gone", &[Scope::Admin]).await;
    revoke_token(&app, "gone").await;
    // A token of the right shape that the server never issued.
    let unknown = format!("gpt_{}", "A".repeat(43));

    let cases = [
        ("no token", None, "TOKEN_MISSING"),
        (
            "another scheme",
            Some("Basic dXNlcjpwYXNz"),
            "TOKEN_INVALID",
        ),
        ("not a goalpost token", Some("hunter2"), "TOKEN_INVALID"),
        (
            "a token never issued",
            Some(unknown.as_str()),
            "TOKEN_INVALID",
        ),
        ("a revoked token", Some(revoked.as_str()), "TOKEN_REVOKED"),
    ];
    for (description, token, reason) in cases {
        // Anything but a bare secret is sent as the whole header value.
        let result = match token {
            Some(value) if value.contains(' ') => {
                let mut request = tonic::Request::new(goalpost::pb::ListAccountsRequest::default());
                request
                    .metadata_mut()
                    .insert("authorization", value.parse().unwrap());
                app.audits().list_accounts(request).await.map(drop)
            }
            token => list_accounts(&app, token).await,
        };
        let status = result.expect_err(description);
        assert_error(&status, Code::Unauthenticated, reason);
        assert!(
            status.metadata().get("www-authenticate").is_some(),
            "{description}: {status:?}"
        );
    }
    list_accounts(&app, Some(&live))
        .await
        .expect("a live token still works");
}

#[tokio::test]
async fn health_and_reflection_stay_open_once_tokens_exist() {
    let app = spawn_app_with(|settings| settings.token_cache_secs = 0).await;
    create_token(&app.pool, "someone", &[Scope::Admin]).await;

    let health = HealthClient::new(app.channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health needs no token");
    assert_eq!(health.into_inner().status, 1, "SERVING");

    let mut reflection =
        v1::server_reflection_client::ServerReflectionClient::new(app.channel.clone());
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut answers = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection needs no token")
        .into_inner();
    assert!(answers.message().await.expect("an answer").is_some());

    // Everything else does, unknown methods included: probing for methods
    // tells an unauthenticated caller nothing.
    let status = list_accounts(&app, None).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn a_cached_token_outlives_its_revocation_only_until_the_cache_expires() {
    let app = spawn_app_with(|settings| settings.token_cache_secs = 1).await;
    let token = create_token(&app.pool, "soon-gone", &[Scope::Read]).await;
    list_accounts(&app, Some(&token)).await.expect("live");
    revoke_token(&app, "soon-gone").await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let status = list_accounts(&app, Some(&token)).await.unwrap_err();
    assert_error(&status, Code::Unauthenticated, "TOKEN_REVOKED");
}

#[tokio::test]
async fn verified_tokens_are_served_from_the_cache_within_its_lifetime() {
    // A lifetime no test outlasts: the second call can only have passed by
    // the cache, since the database says the token is revoked.
    let app = spawn_app_with(|settings| settings.token_cache_secs = 60).await;
    let token = create_token(&app.pool, "cached", &[Scope::Read]).await;
    list_accounts(&app, Some(&token)).await.expect("live");
    revoke_token(&app, "cached").await;
    list_accounts(&app, Some(&token))
        .await
        .expect("the verdict is cached for the configured lifetime");
}

#[tokio::test]
async fn a_first_token_ends_anonymous_mode_of_a_running_server_within_the_cache_lifetime() {
    let app = spawn_app_with(|settings| settings.token_cache_secs = 1).await;
    list_accounts(&app, None).await.expect("anonymous mode");
    let token = create_token(&app.pool, "first", &[Scope::Read]).await;
    // The new token works at once: its own lookup is not cached yet.
    list_accounts(&app, Some(&token)).await.expect("live");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let status = list_accounts(&app, None).await.unwrap_err();
    assert_error(&status, Code::Unauthenticated, "TOKEN_MISSING");
}

#[tokio::test]
async fn a_token_without_the_scope_is_denied_naming_the_scope() {
    let app = spawn_app_with(|settings| settings.token_cache_secs = 0).await;
    let reader = create_token(&app.pool, "reader", &[Scope::Read]).await;
    let status = super::audits_as(&app, &reader)
        .delete_account(goalpost::pb::DeleteAccountRequest::default())
        .await
        .unwrap_err();
    assert_error(&status, Code::PermissionDenied, "SCOPE_MISSING");
    assert!(status.message().contains("scope write"), "{status:?}");
    assert!(status.message().contains("reader"), "{status:?}");
}

/// The values recorded for the `token` field of `grpc.call` spans.
#[derive(Clone, Default)]
struct TokenFields(Arc<Mutex<Vec<String>>>);

impl Visit for TokenFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "token" {
            self.0.lock().unwrap().push(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "token" {
            self.0.lock().unwrap().push(format!("{value:?}"));
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for TokenFields {
    fn on_new_span(&self, attributes: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        attributes.record(&mut self.clone());
    }

    fn on_record(&self, _: &Id, values: &Record<'_>, _: Context<'_, S>) {
        values.record(&mut self.clone());
    }
}

#[tokio::test]
async fn the_callers_token_name_is_recorded_on_the_call_span() {
    // The test's runtime runs on this thread, server included, so a
    // thread-local subscriber sees the server's spans. tracing caches
    // whether a callsite is enabled globally, and while a single
    // dispatcher is registered it asks whichever thread registers a
    // callsite first: another test's thread, with no subscriber, would
    // switch the call span off for this one too. A second registered
    // dispatcher makes tracing ask every registered one instead.
    let _second = tracing::Dispatch::new(tracing_subscriber::registry());
    let recorded = TokenFields::default();
    let subscriber = tracing_subscriber::registry().with(recorded.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();

    let app = spawn_app_with(|settings| settings.token_cache_secs = 0).await;
    let token = create_token(&app.pool, "span-reader", &[Scope::Read]).await;
    list_accounts(&app, Some(&token)).await.expect("live");
    assert!(
        recorded
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|value| value == "span-reader"),
        "recorded: {:?}",
        recorded.0.lock().unwrap()
    );
}
