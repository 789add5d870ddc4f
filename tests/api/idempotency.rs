//! Request ids (AIP-155) are remembered for a retention period, then purged.

use std::time::Duration;

use goalpost::pb;
use goalpost::pb::account::Network;
use uuid::Uuid;

use crate::helpers::spawn_app;

fn create_request(handle: &str, request_id: Uuid) -> pb::CreateAccountRequest {
    pb::CreateAccountRequest {
        account: Some(pb::Account {
            network: Network::Youtube as i32,
            handle: handle.to_owned(),
            ..Default::default()
        }),
        request_id: request_id.to_string(),
    }
}

async fn remembered(pool: &sqlx::PgPool, request_id: Uuid) -> bool {
    sqlx::query_scalar("select exists (select 1 from idempotency_key where request_id = $1)")
        .bind(request_id)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn expired_request_ids_are_purged_at_start_up_and_fresh_ones_kept() {
    let app = spawn_app().await;
    let expired_id = Uuid::new_v4();
    let fresh_id = Uuid::new_v4();
    let first = app
        .audits()
        .create_account(create_request("old-launch", expired_id))
        .await
        .unwrap()
        .into_inner();
    let kept = app
        .audits()
        .create_account(create_request("new-launch", fresh_id))
        .await
        .unwrap()
        .into_inner();
    // Older than the default retention of 24 hours.
    sqlx::query(
        "update idempotency_key set create_time = now() - interval '25 hours' where request_id = $1",
    )
    .bind(expired_id)
    .execute(&app.pool)
    .await
    .unwrap();

    let app = app.restart().await;
    // The start-up purge runs in the background as the server starts.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while remembered(&app.pool, expired_id).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the expired request id was not purged"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(remembered(&app.pool, fresh_id).await, "a fresh id is kept");

    // A retry within the retention still returns the first response.
    let retried = app
        .audits()
        .create_account(create_request("new-launch", fresh_id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retried, kept);
    // An expired id is forgotten: reusing it, even for another account, is
    // a new request rather than INVALID_ARGUMENT.
    let reused = app
        .audits()
        .create_account(create_request("another-launch", expired_id))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(reused.name, first.name);
    assert_eq!(app.count("account").await, 3);
}
