//! Every call's time budget, and the database work it bounds.
//!
//! A call gets the deadline its client sent (`grpc-timeout`), else the
//! server's default budget (`--call-timeout-secs`). Streaming calls (a
//! watch, an upload of observations) have no default: they live as long as
//! their client keeps them, within their own idle limits.
//!
//! The budget bounds the call twice. The call ends with DEADLINE_EXCEEDED
//! when it runs out. And every database connection the call takes gets a
//! `statement_timeout` of what is left of it (see [`statement_timeout`],
//! which the pool runs on each connection it hands out), so a statement
//! still running when the client's deadline passes is stopped by
//! PostgreSQL itself rather than running on for a caller who is gone.
//! A call whose client gives up before its deadline (cancels, or hangs up)
//! has its running statements cancelled at once
//! ([`crate::db::abandoned`]).

use std::time::Duration;

use http::HeaderMap;
use tokio::time::Instant;
use tonic::Status;

use super::guard::{Answer, BoxedAnswer, CallGuard};
use crate::db::abandoned;
use crate::error::ApiError;

tokio::task_local! {
    /// The deadline of the call the current task serves; `None` for work
    /// without one (a stream without a client deadline, background tasks).
    static CALL_DEADLINE: Option<Instant>;
}

/// Methods that stream: no default budget applies to them.
const STREAMING_METHODS: [&str; 2] = [
    "/goalpost.v1.ProgressService/WatchGoalProgress",
    "/goalpost.v1.MetricService/StreamObservations",
];

/// The deadline of the call the current task serves, if any.
pub fn current_deadline() -> Option<Instant> {
    CALL_DEADLINE.try_with(|deadline| *deadline).ok().flatten()
}

/// Runs `work` under `deadline`, for work a call hands to a task of its
/// own (task-locals do not cross `tokio::spawn`).
pub async fn with_deadline<T>(deadline: Option<Instant>, work: impl Future<Output = T>) -> T {
    CALL_DEADLINE.scope(deadline, work).await
}

/// The `statement_timeout` a connection taken now should have, in whole
/// milliseconds: what is left of the call's budget (at least 1 ms, so a
/// spent budget fails the next statement with DEADLINE_EXCEEDED), else
/// `default`.
pub fn statement_timeout(default: Duration) -> u64 {
    let left = match current_deadline() {
        Some(deadline) => deadline.saturating_duration_since(Instant::now()),
        None => default,
    };
    u64::try_from(left.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// Reads `grpc-timeout`: an ASCII integer of at most 8 digits and a unit
/// (H, M, S, m, u, n), per the gRPC over HTTP/2 spec. A malformed value is
/// ignored, as if absent.
fn client_timeout(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.checked_mul(3600)?),
        "M" => Duration::from_secs(amount.checked_mul(60)?),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// See the [module](self); put in front of the services with
/// [`super::guard::GuardLayer`].
#[derive(Debug, Clone, Copy)]
pub struct CallBudget {
    default_budget: Duration,
}

impl CallBudget {
    /// Budgets of `default_budget` for unary calls whose client sets none.
    pub fn new(default_budget: Duration) -> Self {
        CallBudget { default_budget }
    }
}

impl CallGuard for CallBudget {
    /// The call's deadline, if it has one.
    type Admitted = Option<Instant>;

    fn admit(&self, path: &str, headers: &HeaderMap) -> Result<Self::Admitted, ApiError> {
        let streaming = STREAMING_METHODS.contains(&path);
        let budget = match client_timeout(headers) {
            Some(client) => Some(client),
            None if streaming => None,
            None => Some(self.default_budget),
        };
        Ok(budget.map(|budget| Instant::now() + budget))
    }

    fn around<E: Send + 'static>(
        &self,
        deadline: Self::Admitted,
        answer: impl Future<Output = Answer<E>> + Send + 'static,
    ) -> BoxedAnswer<E> {
        // Abandonable: a call whose client gives up stops its statements.
        let answer = abandoned::abandonable(CALL_DEADLINE.scope(deadline, answer));
        Box::pin(async move {
            match deadline {
                None => answer.await,
                // For a stream, this bounds the wait for its answer's
                // headers; its messages are bounded by the statements.
                Some(deadline) => match tokio::time::timeout_at(deadline, answer).await {
                    Ok(answer) => answer,
                    Err(_) => Ok(Status::from(ApiError::DeadlineExceeded).into_http()),
                },
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(timeout: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-timeout", timeout.parse().unwrap());
        headers
    }

    #[test]
    fn grpc_timeouts_read_in_every_unit() {
        let cases = [
            ("2H", Some(Duration::from_secs(7200))),
            ("3M", Some(Duration::from_secs(180))),
            ("5S", Some(Duration::from_secs(5))),
            ("250m", Some(Duration::from_millis(250))),
            ("1500u", Some(Duration::from_micros(1500))),
            ("99999999n", Some(Duration::from_nanos(99_999_999))),
            ("", None),
            ("S", None),
            ("10", None),
            ("10x", None),
            ("-1S", None),
            ("123456789S", None),
        ];
        for (value, expected) in cases {
            let headers = if value.is_empty() {
                HeaderMap::new()
            } else {
                headers(value)
            };
            assert_eq!(client_timeout(&headers), expected, "{value:?}");
        }
    }

    #[tokio::test]
    async fn statement_timeouts_follow_the_call_deadline() {
        let default = Duration::from_secs(30);
        assert_eq!(statement_timeout(default), 30_000, "no call: the default");
        let deadline = Instant::now() + Duration::from_secs(2);
        let inside = with_deadline(Some(deadline), async { statement_timeout(default) }).await;
        assert!((1_900..=2_000).contains(&inside), "{inside}");
        let spent = with_deadline(Some(Instant::now()), async { statement_timeout(default) }).await;
        assert_eq!(
            spent, 1,
            "a spent budget still fails the statement, not the connection"
        );
        let unbounded = with_deadline(None, async { statement_timeout(default) }).await;
        assert_eq!(unbounded, 30_000);
    }
}
