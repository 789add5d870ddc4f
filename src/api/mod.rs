//! Shared API mechanics used by every service: resource names, enums, times,
//! validation, pagination, filters, field masks, etags and idempotency.

pub mod body;
pub mod call_budget;
pub mod concurrency;
pub mod database_gate;
pub mod enums;
pub mod etag;
pub mod field_mask;
pub mod filter;
#[cfg(test)]
pub(crate) mod fuzzing;
pub mod guard;
pub mod idempotency;
pub mod list;
pub mod names;
pub mod pagination;
pub mod time;
pub mod too_large;
pub mod validate;

use crate::error::ApiError;

/// The paths of the services every server offers beside goalpost's own:
/// health (which load balancers probe) and reflection (which grpcurl needs
/// to describe the API). They need no token and no database, so they are
/// never refused: not for a missing token, an outage or overload.
const INFRASTRUCTURE_SERVICES: [&str; 3] = [
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// Whether `path` is a method of health or reflection.
pub fn is_infrastructure(path: &str) -> bool {
    INFRASTRUCTURE_SERVICES
        .iter()
        .any(|prefix| path.starts_with(prefix))
}

/// Runs `work` in its own task and waits for it. Writes that stream data
/// (COPY) run this way so that a client resetting the call cannot drop them
/// halfway: the task finishes or aborts the COPY and rolls back cleanly.
/// The task keeps the call's deadline, so its statements stay bounded by it.
pub async fn detached<T: Send + 'static>(
    work: impl Future<Output = Result<T, ApiError>> + Send + 'static,
) -> Result<T, ApiError> {
    let deadline = call_budget::current_deadline();
    tokio::spawn(call_budget::with_deadline(deadline, work))
        .await
        .map_err(ApiError::internal)?
}
