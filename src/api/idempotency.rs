//! AIP-155 request ids: a create retried with the same `request_id` returns
//! the first call's response instead of creating a duplicate.
//!
//! The id is claimed with `insert … on conflict do nothing` inside the
//! create's own transaction, so the claim and the resource commit or vanish
//! together, and a concurrent retry waits on the first call's row lock and
//! then sees its committed response.
//!
//! Ids are kept for a retention period (`--request-id-retention`, 24 hours
//! by default) and purged after it by [`start_purging`]: a retry that comes
//! later than that is a new request.

use std::time::Duration;

use prost::Message;
use sqlx::{PgConnection, PgPool};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{MissedTickBehavior, interval};
use uuid::Uuid;

use crate::error::{ApiError, Violations};

/// Reads an optional `request_id`: empty means none; anything else must be a UUID.
pub fn parse_request_id(violations: &mut Violations, value: &str) -> Option<Uuid> {
    if value.is_empty() {
        return None;
    }
    let parsed = Uuid::try_parse(value).ok();
    if parsed.is_none() {
        violations.add(
            "request_id",
            "must be a UUID such as 0190b6f4-5e6b-7c1d-9a2e-3f4a5b6c7d8e, or empty",
        );
    }
    parsed
}

/// Runs `create` in a transaction, at most once per request id. With no id it
/// just runs. With an id seen before it returns the stored response, or fails
/// with INVALID_ARGUMENT when the id was used for a different request.
pub async fn once<Response, Create>(
    pool: &sqlx::PgPool,
    request_id: Option<Uuid>,
    method: &str,
    request: &impl Message,
    create: Create,
) -> Result<Response, ApiError>
where
    Response: Message + Default,
    Create: AsyncFnOnce(&mut PgConnection) -> Result<Response, ApiError>,
{
    let mut tx = pool.begin().await?;
    let fingerprint = request.encode_to_vec();
    if let Some(request_id) = request_id
        && let Some(stored) = claim(&mut tx, request_id, method, &fingerprint).await?
    {
        return Response::decode(stored.as_slice()).map_err(ApiError::internal);
    }
    let response = create(&mut tx).await?;
    if let Some(request_id) = request_id {
        sqlx::query("update idempotency_key set response = $2 where request_id = $1")
            .bind(request_id)
            .bind(response.encode_to_vec())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(response)
}

/// Claims `request_id` for this request. `Ok(None)`: the id is new and now
/// ours. `Ok(Some(response))`: the same request already ran.
async fn claim(
    conn: &mut PgConnection,
    request_id: Uuid,
    method: &str,
    fingerprint: &[u8],
) -> Result<Option<Vec<u8>>, ApiError> {
    let claimed = sqlx::query(
        "insert into idempotency_key (request_id, method, request) values ($1, $2, $3)
         on conflict (request_id) do nothing",
    )
    .bind(request_id)
    .bind(method)
    .bind(fingerprint)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if claimed {
        return Ok(None);
    }
    let (stored_method, stored_request, response): (String, Vec<u8>, Option<Vec<u8>>) =
        sqlx::query_as(
            "select method, request, response from idempotency_key where request_id = $1",
        )
        .bind(request_id)
        .fetch_one(&mut *conn)
        .await?;
    match response {
        Some(response) if stored_method == method && stored_request == fingerprint => {
            Ok(Some(response))
        }
        _ => Err(ApiError::invalid_field(
            "request_id",
            "was already used for a different request: use a new UUID for each distinct request",
        )),
    }
}

/// How often expired request ids are purged while the server runs.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// Deletes the request ids claimed longer than `retention` ago; returns how
/// many went.
pub async fn purge_expired(pool: &PgPool, retention: Duration) -> Result<u64, sqlx::Error> {
    let purged = sqlx::query(
        "delete from idempotency_key where create_time < now() - make_interval(secs => $1)",
    )
    .bind(retention.as_secs_f64())
    .execute(pool)
    .await?
    .rows_affected();
    Ok(purged)
}

/// The background task of [`start_purging`]; it ends when [`Purger::stop`]
/// is called or the purger is dropped.
#[derive(Debug)]
pub struct Purger {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// Purges expired request ids at once and then every [`PURGE_INTERVAL`], in
/// a background task. A failed purge is logged and tried again next time:
/// the ids only take space meanwhile.
pub fn start_purging(pool: PgPool, retention: Duration) -> Purger {
    let (stop, mut stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut ticks = interval(PURGE_INTERVAL);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            // The first tick completes at once: that is the start-up purge.
            tokio::select! {
                _ = &mut stopped => return,
                _ = ticks.tick() => {}
            }
            tokio::select! {
                _ = &mut stopped => return,
                result = purge_expired(&pool, retention) => match result {
                    Ok(0) => {}
                    Ok(purged) => tracing::info!(purged, retention_secs = retention.as_secs(), "purged expired request ids"),
                    Err(error) => tracing::warn!(%error, "cannot purge expired request ids"),
                },
            }
        }
    });
    Purger { stop, task }
}

impl Purger {
    /// Stops the task, abandoning a purge in progress, and waits for it to end.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}
