//! Calls answered UNAVAILABLE at once while the database is known to be
//! down, rather than each waiting out the pool's timeout.
//!
//! The gate sits in front of every service except health and reflection
//! (which need no database and must keep answering during an outage). While
//! the [monitor](crate::db::availability) says the database is down, a call
//! gets UNAVAILABLE without running. A call that was running when the
//! outage became known gets it then, instead of when its own wait ends. And
//! a call that itself comes back UNAVAILABLE makes the monitor probe at
//! once, so an outage is known within one round trip of the first call that
//! met it.

use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response};
use tonic::Status;
use tower::{Layer, Service};

use crate::db::availability::Availability;
use crate::error::ApiError;

/// Puts [`DatabaseGate`] in front of a service.
#[derive(Clone)]
pub struct DatabaseGateLayer {
    availability: Availability,
}

impl DatabaseGateLayer {
    /// A gate following `availability`.
    pub fn new(availability: Availability) -> Self {
        DatabaseGateLayer { availability }
    }
}

impl<S> Layer<S> for DatabaseGateLayer {
    type Service = DatabaseGate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DatabaseGate {
            inner,
            availability: self.availability.clone(),
        }
    }
}

/// See the [module](self).
#[derive(Clone)]
pub struct DatabaseGate<S> {
    inner: S,
    availability: Availability,
}

type Answer<E> = Result<Response<tonic::body::Body>, E>;

impl<S, B> Service<Request<B>> for DatabaseGate<S>
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
        if !self.availability.is_up() {
            return Box::pin(std::future::ready(Ok(database_down())));
        }
        let availability = self.availability.clone();
        let mut state = availability.subscribe();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let went_down = async {
                // A monitor that has stopped (the server is stopping) never
                // reports an outage.
                if state.wait_for(|up| !*up).await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                answer = answer => {
                    let response = answer?;
                    let unavailable = response
                        .headers()
                        .get("grpc-status")
                        .is_some_and(|code| tonic::Code::from_bytes(code.as_bytes()) == tonic::Code::Unavailable);
                    if unavailable {
                        availability.suspect();
                    }
                    Ok(response)
                }
                () = went_down => Ok(database_down()),
            }
        })
    }
}

/// The answer while the database is down.
fn database_down() -> Response<tonic::body::Body> {
    Status::from(ApiError::DatabaseDown).into_http()
}
