//! Serving beyond loopback: refused without a token unless anonymous calls
//! are explicitly allowed, and never anonymous without that flag.

use goalpost::app::{Application, StartupError};
use goalpost::auth::ListenRefusal;
use goalpost::auth::scopes::Scope;
use goalpost::config::ServeSettings;
use sqlx::PgPool;
use tonic::Code;

use super::{create_token, list_accounts, revoke_token};
use crate::helpers::{assert_error, fresh_database, start_on_with};

fn every_interface(database_url: &str) -> ServeSettings {
    ServeSettings::new("0.0.0.0:0".parse().unwrap(), Some(database_url.to_owned()))
}

#[tokio::test]
async fn serving_beyond_loopback_without_a_token_refuses_to_start() {
    let database_url = fresh_database().await;
    let error = match Application::build(&every_interface(&database_url)).await {
        Ok(_) => panic!("a server on 0.0.0.0 without tokens started"),
        Err(error) => error,
    };
    assert!(
        matches!(
            error,
            StartupError::Unprotected(ListenRefusal::AnonymousBeyondLoopback { .. })
        ),
        "{error:?}"
    );
    let message = error.to_string();
    for hint in [
        "0.0.0.0",
        "goalpost token create",
        "--insecure-allow-anonymous",
    ] {
        assert!(message.contains(hint), "{hint} in {message}");
    }
}

#[tokio::test]
async fn the_explicit_flag_serves_anonymously_beyond_loopback() {
    let database_url = fresh_database().await;
    let app = start_on_with(database_url, |settings| {
        settings.listen = "0.0.0.0:0".parse().unwrap();
        settings.insecure_allow_anonymous = true;
    })
    .await;
    list_accounts(&app, None)
        .await
        .expect("anonymous calls are allowed, as asked");
}

#[tokio::test]
async fn beyond_loopback_a_server_with_tokens_starts_and_never_turns_anonymous() {
    let database_url = fresh_database().await;
    let pool = PgPool::connect(&database_url).await.unwrap();
    let token = create_token(&pool, "ops", &[Scope::Read]).await;
    pool.close().await;
    let app = start_on_with(database_url, |settings| {
        settings.listen = "0.0.0.0:0".parse().unwrap();
        settings.token_cache_secs = 0;
    })
    .await;
    list_accounts(&app, Some(&token)).await.expect("live");

    // With its last token revoked, a loopback server would accept calls
    // without one again; this one, without the flag, does not.
    revoke_token(&app, "ops").await;
    let status = list_accounts(&app, None).await.unwrap_err();
    assert_error(&status, Code::Unauthenticated, "TOKEN_MISSING");
}
