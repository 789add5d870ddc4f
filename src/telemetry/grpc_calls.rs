//! Counts and latencies of gRPC calls by method and status code: a tower
//! layer around the whole server, so calls refused by other layers count
//! too.
//!
//! Where the status is: a call that fails before answering (the usual
//! error) is a trailers-only response with `grpc-status` in its headers;
//! any other call, unary or streaming, carries it in the trailers that end
//! its body. A call is therefore recorded when its status is known: at the
//! headers for the former, at the end of the body for the latter, so a
//! streaming call counts once, when it ends, and its latency is how long it
//! ran. Trailers without `grpc-status` mean OK; a call whose response is
//! dropped before it ends (the client went away) counts as CANCELLED.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use http::{HeaderMap, Request, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use prost::Message;
use tonic::Code;
use tower::{Layer, Service};

/// Calls finished, by `service`, `method` and `code`.
pub const REQUESTS_TOTAL: &str = "goalpost_grpc_requests_total";
/// How long calls took, from the request's arrival to the end of the
/// response, by `service`, `method` and `code`.
pub const REQUEST_DURATION_SECONDS: &str = "goalpost_grpc_request_duration_seconds";

/// Calls started and not yet finished, by `service` and `method`: open
/// WatchGoalProgress streams, say.
pub const REQUESTS_IN_FLIGHT: &str = "goalpost_grpc_requests_in_flight";

/// The label value of a path that names no method this server has: a
/// caller must not be able to mint new time series by inventing paths.
const UNKNOWN: &str = "unknown";

/// The layer that meters every call; see the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallMetricsLayer;

impl<S> Layer<S> for CallMetricsLayer {
    type Service = CallMetrics<S>;

    fn layer(&self, inner: S) -> CallMetrics<S> {
        CallMetrics { inner }
    }
}

/// The service of [`CallMetricsLayer`].
#[derive(Debug, Clone)]
pub struct CallMetrics<S> {
    inner: S,
}

impl<S, RequestBody, ResponseBody> Service<Request<RequestBody>> for CallMetrics<S>
where
    S: Service<Request<RequestBody>, Response = Response<ResponseBody>>,
{
    type Response = Response<MeteredBody<ResponseBody>>;
    type Error = S::Error;
    type Future = MeteredFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<RequestBody>) -> Self::Future {
        let call = Call::start(request.uri().path());
        MeteredFuture {
            inner: self.inner.call(request),
            call: Some(call),
        }
    }
}

pin_project! {
    /// The response future of a metered call.
    pub struct MeteredFuture<F> {
        #[pin]
        inner: F,
        call: Option<Call>,
    }
}

impl<F, B, E> Future for MeteredFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<MeteredBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let call = this.call.take();
        Poll::Ready(match result {
            Ok(response) => {
                // A trailers-only answer: its status is final already.
                let call = match (call, grpc_status(response.headers())) {
                    (Some(call), Some(code)) => {
                        call.finish(code);
                        None
                    }
                    (call, _) => call,
                };
                Ok(response.map(|inner| MeteredBody { inner, call }))
            }
            Err(error) => {
                // No response at all: tonic answers the client as it can.
                if let Some(call) = call {
                    call.finish(Code::Unknown);
                }
                Err(error)
            }
        })
    }
}

pin_project! {
    /// A response body that records its call when its trailers go out.
    pub struct MeteredBody<B> {
        #[pin]
        inner: B,
        call: Option<Call>,
    }
}

impl<B: Body> Body for MeteredBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        let code = match &frame {
            Some(Ok(frame)) => frame
                .trailers_ref()
                .map(|trailers| grpc_status(trailers).unwrap_or(Code::Ok)),
            // The body broke off: the client sees a reset stream.
            Some(Err(_)) => Some(Code::Unknown),
            None => Some(Code::Ok),
        };
        if let Some(code) = code
            && let Some(call) = this.call.take()
        {
            call.finish(code);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A call being timed. Dropped before [`Call::finish`], it records
/// CANCELLED: its response was abandoned, by the client or the connection.
pub struct Call {
    service: &'static str,
    method: &'static str,
    started: Instant,
    recorded: bool,
}

impl Call {
    fn start(path: &str) -> Call {
        let (service, method) = method_labels(path);
        metrics::gauge!(REQUESTS_IN_FLIGHT, "service" => service, "method" => method)
            .increment(1.0);
        Call {
            service,
            method,
            started: Instant::now(),
            recorded: false,
        }
    }

    fn finish(mut self, code: Code) {
        self.record(code);
    }

    fn record(&mut self, code: Code) {
        if std::mem::replace(&mut self.recorded, true) {
            return;
        }
        metrics::gauge!(REQUESTS_IN_FLIGHT, "service" => self.service, "method" => self.method)
            .decrement(1.0);
        let labels = [
            ("service", self.service),
            ("method", self.method),
            ("code", code_name(code)),
        ];
        metrics::counter!(REQUESTS_TOTAL, &labels).increment(1);
        metrics::histogram!(REQUEST_DURATION_SECONDS, &labels)
            .record(self.started.elapsed().as_secs_f64());
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.record(Code::Cancelled);
    }
}

fn grpc_status(headers: &HeaderMap) -> Option<Code> {
    headers
        .get("grpc-status")
        .map(|value| Code::from_bytes(value.as_bytes()))
}

/// The `service` and `method` labels of a request path such as
/// `/goalpost.v1.GoalService/GetGoal`.
fn method_labels(path: &str) -> (&'static str, &'static str) {
    KNOWN_METHODS
        .get(path)
        .map_or((UNKNOWN, UNKNOWN), |(service, method)| {
            (service.as_str(), method.as_str())
        })
}

/// Every method this server serves, by path, from the descriptor sets it
/// also serves through reflection.
static KNOWN_METHODS: LazyLock<HashMap<String, (String, String)>> = LazyLock::new(|| {
    let sets = [
        crate::pb::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
    ];
    let mut known = HashMap::new();
    for bytes in sets {
        // Built into the binary: a set that did not decode would fail every
        // reflection test, so skipping it here loses nothing silently.
        let Ok(set) = prost_types::FileDescriptorSet::decode(bytes) else {
            continue;
        };
        for file in set.file {
            let package = file.package.unwrap_or_default();
            for service in file.service {
                let service_name = match (package.as_str(), service.name()) {
                    ("", name) => name.to_owned(),
                    (package, name) => format!("{package}.{name}"),
                };
                for method in service.method {
                    let method_name = method.name().to_owned();
                    known.insert(
                        format!("/{service_name}/{method_name}"),
                        (service_name.clone(), method_name),
                    );
                }
            }
        }
    }
    known
});

/// The canonical name of a status code, as gRPC documents them.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_methods_get_their_service_and_method_as_labels() {
        let cases = [
            (
                "a goalpost method",
                "/goalpost.v1.GoalService/GetGoal",
                ("goalpost.v1.GoalService", "GetGoal"),
            ),
            (
                "the health check",
                "/grpc.health.v1.Health/Check",
                ("grpc.health.v1.Health", "Check"),
            ),
            (
                "reflection v1alpha, which grpcurl speaks",
                "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                (
                    "grpc.reflection.v1alpha.ServerReflection",
                    "ServerReflectionInfo",
                ),
            ),
            (
                "an invented method of a real service",
                "/goalpost.v1.GoalService/DropTables",
                (UNKNOWN, UNKNOWN),
            ),
            (
                "an invented service",
                "/evil.Service/Method",
                (UNKNOWN, UNKNOWN),
            ),
            ("not a gRPC path", "/metrics", (UNKNOWN, UNKNOWN)),
        ];
        for (description, path, expected) in cases {
            assert_eq!(method_labels(path), expected, "{description}: {path}");
        }
    }

    #[test]
    fn code_names_are_the_canonical_ones() {
        assert_eq!(code_name(Code::Ok), "OK");
        assert_eq!(code_name(Code::InvalidArgument), "INVALID_ARGUMENT");
        assert_eq!(code_name(Code::from_i32(16)), "UNAUTHENTICATED");
    }
}
