//! The one tower layer behind the call budget, the database gate and the
//! concurrency limit: each decides at once, from a call's path and headers,
//! whether to answer it itself, and otherwise wraps the answer of the
//! service behind it.

use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderMap, Request, Response};
use tonic::Status;
use tonic::body::Body;
use tower::{Layer, Service};

use crate::error::ApiError;

/// A call's answer, or the error of the service behind.
pub type Answer<E> = Result<Response<Body>, E>;

/// What a guard's wrapped answer is.
pub type BoxedAnswer<E> = Pin<Box<dyn Future<Output = Answer<E>> + Send>>;

/// A decision taken before a call runs, and what to do around its answer.
pub trait CallGuard: Clone + Send + 'static {
    /// What admitting a call hands to [`CallGuard::around`].
    type Admitted: Send + 'static;

    /// Admits the call to `path`, or refuses it with an error answered at
    /// once (the service behind is then not called).
    fn admit(&self, path: &str, headers: &HeaderMap) -> Result<Self::Admitted, ApiError>;

    /// The answer of an admitted call, from the service behind's `answer`
    /// (a future created in the caller's task, not yet polled).
    fn around<E: Send + 'static>(
        &self,
        admitted: Self::Admitted,
        answer: impl Future<Output = Answer<E>> + Send + 'static,
    ) -> BoxedAnswer<E>;
}

/// Puts a [`CallGuard`] in front of a service.
#[derive(Debug, Clone)]
pub struct GuardLayer<G> {
    guard: G,
}

impl<G> GuardLayer<G> {
    /// The layer of `guard`.
    pub fn new(guard: G) -> Self {
        GuardLayer { guard }
    }
}

impl<S, G: Clone> Layer<S> for GuardLayer<G> {
    type Service = Guarded<S, G>;

    fn layer(&self, inner: S) -> Self::Service {
        Guarded {
            inner,
            guard: self.guard.clone(),
        }
    }
}

/// A service behind a [`CallGuard`].
#[derive(Debug, Clone)]
pub struct Guarded<S, G> {
    inner: S,
    guard: G,
}

impl<S, B, G> Service<Request<B>> for Guarded<S, G>
where
    S: Service<Request<B>, Response = Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    G: CallGuard,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxedAnswer<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        match self.guard.admit(request.uri().path(), request.headers()) {
            Ok(admitted) => self.guard.around(admitted, self.inner.call(request)),
            Err(refusal) => Box::pin(std::future::ready(Ok(Status::from(refusal).into_http()))),
        }
    }
}
