//! The span of each call and the line logged when it ends.

use std::time::Duration;

use http::{HeaderMap, Request, Response};
use tower_http::trace::TraceLayer;
use tracing::{Span, field};

/// The tracing layer: a span per call and one line when it ends.
pub(super) type CallTracing = TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::GrpcErrorsAsFailures>,
    fn(&Request<tonic::body::Body>) -> Span,
    (),
    fn(&Response<tonic::body::Body>, Duration, &Span),
    (),
    fn(Option<&HeaderMap>, Duration, &Span),
    (),
>;

pub(super) fn call_tracing() -> CallTracing {
    TraceLayer::new_for_grpc()
        .make_span_with(call_span as fn(&Request<tonic::body::Body>) -> Span)
        .on_request(())
        .on_response(call_answered as fn(&Response<tonic::body::Body>, Duration, &Span))
        .on_body_chunk(())
        .on_eos(call_ended as fn(Option<&HeaderMap>, Duration, &Span))
        .on_failure(())
}

/// The span of a call, `grpc.call`, with the method, the caller's address
/// and, once known, the caller's token name (recorded by the auth layer;
/// absent for anonymous calls and open services) and the gRPC status.
fn call_span(request: &Request<tonic::body::Body>) -> Span {
    let caller = crate::tls::peer_address(request.extensions())
        .map(|address| address.to_string())
        .unwrap_or_default();
    tracing::info_span!("grpc.call", method = %request.uri().path(), caller = %caller, token = field::Empty, status = field::Empty)
}

/// Errors from handlers come back as trailers-only responses, with the status
/// in the headers; successful calls carry it in trailers (see [`call_ended`]).
fn call_answered(response: &Response<tonic::body::Body>, latency: Duration, span: &Span) {
    if let Some(code) = grpc_status(response.headers()) {
        finish_call(span, code, latency);
    }
}

fn call_ended(trailers: Option<&HeaderMap>, duration: Duration, span: &Span) {
    let code = trailers.and_then(grpc_status).unwrap_or(tonic::Code::Ok);
    finish_call(span, code, duration);
}

fn grpc_status(headers: &HeaderMap) -> Option<tonic::Code> {
    headers
        .get("grpc-status")
        .map(|value| tonic::Code::from_bytes(value.as_bytes()))
}

fn finish_call(span: &Span, code: tonic::Code, latency: Duration) {
    span.record("status", field::debug(code));
    let latency_ms = latency.as_secs_f64() * 1000.0;
    span.in_scope(|| tracing::info!(latency_ms, "call finished"));
}
