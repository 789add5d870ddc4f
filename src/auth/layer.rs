//! The tower layer that authenticates and authorises every call before it
//! reaches a service.
//!
//! It sits inside the call-tracing layer, so a refused call is still logged
//! with its status, and it records the caller's token name on that call's
//! span (`token`). Refusals are ordinary gRPC statuses with goalpost's
//! ErrorInfo; UNAUTHENTICATED ones also carry a `www-authenticate` metadata
//! entry naming the Bearer scheme, as an HTTP 401 would.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::AUTHORIZATION;
use tonic::Status;
use tower::{Layer, Service};
use tracing::Span;

use super::scopes::{Access, access_for};
use super::verify::Verifier;

/// Adds [`AuthService`] around the server's routes.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    verifier: Arc<Verifier>,
}

impl AuthLayer {
    /// A layer checking callers with `verifier`.
    pub fn new(verifier: Arc<Verifier>) -> AuthLayer {
        AuthLayer { verifier }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

/// Refuses calls without the token and scope their method needs, and hands
/// the others on with their [`super::Caller`] in the request's extensions.
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    verifier: Arc<Verifier>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, B> Service<http::Request<B>> for AuthService<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let access = access_for(request.uri().path());
        if access == Access::Open {
            return Box::pin(self.inner.call(request));
        }
        // The service polled ready is the one that must be called; a fresh
        // clone takes its place for the next call.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let verifier = self.verifier.clone();
        // The call's span (made by the tracing layer outside this one) is
        // current here, not necessarily when the future below runs.
        let span = Span::current();
        Box::pin(async move {
            let method = request.uri().path().to_owned();
            let checked = match verifier
                .identify(request.headers().get(AUTHORIZATION))
                .await
            {
                Ok(caller) => {
                    if let Some(name) = caller.token_name() {
                        span.record("token", tracing::field::display(name));
                    }
                    caller.authorize(access, &method).map(|()| caller)
                }
                Err(error) => Err(error),
            };
            match checked {
                Ok(caller) => {
                    request.extensions_mut().insert(caller);
                    inner.call(request).await
                }
                Err(error) => Ok(Status::from(error).into_http()),
            }
        })
    }
}
