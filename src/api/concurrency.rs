//! A bound on the calls served at once: past it, a call is refused at once
//! with RESOURCE_EXHAUSTED instead of joining a queue that only grows while
//! the server is overloaded. A refused client can back off and retry; a
//! queued one would wait out its deadline and then retry anyway, adding to
//! the load.
//!
//! A call holds its place until its answer's headers are out: for a stream
//! that is its start (streams are bounded by their own limits, such as
//! `--max-streams`). Health and reflection are never refused.

use std::sync::Arc;

use http::HeaderMap;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::guard::{Answer, BoxedAnswer, CallGuard};
use crate::error::ApiError;

/// See the [module](self); put in front of the services with
/// [`super::guard::GuardLayer`].
#[derive(Debug, Clone)]
pub struct ConcurrencyLimit {
    places: Arc<Semaphore>,
    limit: usize,
}

impl ConcurrencyLimit {
    /// At most `limit` calls at once.
    pub fn new(limit: usize) -> Self {
        ConcurrencyLimit {
            places: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }
}

impl CallGuard for ConcurrencyLimit {
    /// The call's place; none for health and reflection.
    type Admitted = Option<OwnedSemaphorePermit>;

    fn admit(&self, path: &str, _: &HeaderMap) -> Result<Self::Admitted, ApiError> {
        if super::is_infrastructure(path) {
            return Ok(None);
        }
        match self.places.clone().try_acquire_owned() {
            Ok(place) => Ok(Some(place)),
            Err(_) => Err(too_busy(self.limit)),
        }
    }

    fn around<E: Send + 'static>(
        &self,
        place: Self::Admitted,
        answer: impl Future<Output = Answer<E>> + Send + 'static,
    ) -> BoxedAnswer<E> {
        Box::pin(async move {
            let answer = answer.await;
            drop(place);
            answer
        })
    }
}

/// The answer to a call over the limit.
fn too_busy(limit: usize) -> ApiError {
    ApiError::ResourceExhausted {
        reason: "TOO_MANY_CALLS",
        message: format!(
            "the server is serving its limit of {limit} calls at once: retry after a short backoff"
        ),
    }
}
