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

use http::{HeaderMap, Response};
use tonic::Status;

use super::guard::{Answer, BoxedAnswer, CallGuard};
use crate::db::availability::Availability;
use crate::error::ApiError;

/// See the [module](self); put in front of the services with
/// [`super::guard::GuardLayer`].
#[derive(Clone)]
pub struct DatabaseGate {
    availability: Availability,
}

impl DatabaseGate {
    /// A gate following `availability`.
    pub fn new(availability: Availability) -> Self {
        DatabaseGate { availability }
    }
}

impl CallGuard for DatabaseGate {
    /// Whether the call is gated (health and reflection are not).
    type Admitted = bool;

    fn admit(&self, path: &str, _: &HeaderMap) -> Result<bool, ApiError> {
        if super::is_infrastructure(path) {
            return Ok(false);
        }
        if !self.availability.is_up() {
            return Err(ApiError::DatabaseDown);
        }
        Ok(true)
    }

    fn around<E: Send + 'static>(
        &self,
        gated: bool,
        answer: impl Future<Output = Answer<E>> + Send + 'static,
    ) -> BoxedAnswer<E> {
        if !gated {
            return Box::pin(answer);
        }
        let availability = self.availability.clone();
        let mut state = availability.subscribe();
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
