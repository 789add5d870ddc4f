//! A bound on the calls served at once: past it, a call is refused at once
//! with RESOURCE_EXHAUSTED instead of joining a queue that only grows while
//! the server is overloaded. A refused client can back off and retry; a
//! queued one would wait out its deadline and then retry anyway, adding to
//! the load.
//!
//! A call holds its place until its answer's headers are out: for a stream
//! that is its start (streams are bounded by their own limits, such as
//! `--max-streams`). Health and reflection are never refused.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tokio::sync::Semaphore;
use tonic::Status;
use tower::{Layer, Service};

use crate::error::ApiError;

/// Puts [`ConcurrencyLimit`] in front of a service.
#[derive(Debug, Clone)]
pub struct ConcurrencyLimitLayer {
    places: Arc<Semaphore>,
    limit: usize,
}

impl ConcurrencyLimitLayer {
    /// At most `limit` calls at once.
    pub fn new(limit: usize) -> Self {
        ConcurrencyLimitLayer {
            places: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }
}

impl<S> Layer<S> for ConcurrencyLimitLayer {
    type Service = ConcurrencyLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ConcurrencyLimit {
            inner,
            places: self.places.clone(),
            limit: self.limit,
        }
    }
}

/// See the [module](self).
#[derive(Debug, Clone)]
pub struct ConcurrencyLimit<S> {
    inner: S,
    places: Arc<Semaphore>,
    limit: usize,
}

type Answer<E> = Result<Response<tonic::body::Body>, E>;

impl<S, B> Service<Request<B>> for ConcurrencyLimit<S>
where
    S: Service<Request<B>, Response = Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Answer<S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if super::is_infrastructure(request.uri().path()) {
            return Box::pin(self.inner.call(request));
        }
        let Ok(place) = self.places.clone().try_acquire_owned() else {
            return Box::pin(std::future::ready(Ok(too_busy(self.limit))));
        };
        let answer = self.inner.call(request);
        Box::pin(async move {
            let answer = answer.await;
            drop(place);
            answer
        })
    }
}

/// The answer to a call over the limit.
fn too_busy(limit: usize) -> Response<tonic::body::Body> {
    Status::from(ApiError::ResourceExhausted {
        reason: "TOO_MANY_CALLS",
        message: format!(
            "the server is serving its limit of {limit} calls at once: retry after a short backoff"
        ),
    })
    .into_http()
}
