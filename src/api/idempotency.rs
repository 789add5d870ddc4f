//! AIP-155 request ids: a create retried with the same `request_id` returns
//! the first call's response instead of creating a duplicate.
//!
//! The id is claimed with `insert … on conflict do nothing` inside the
//! create's own transaction, so the claim and the resource commit or vanish
//! together, and a concurrent retry waits on the first call's row lock and
//! then sees its committed response.

use prost::Message;
use sqlx::PgConnection;
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
