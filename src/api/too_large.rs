//! Request messages over the size limit answered as RESOURCE_EXHAUSTED.
//!
//! tonic refuses a request message over `max_decoding_message_size` before
//! any handler runs, with OUT_OF_RANGE and a text of its own. gRPC's
//! convention for a message over a limit is RESOURCE_EXHAUSTED, which is
//! also what a StreamObservations chunk over the limit gets (there the
//! handler sees the error). This rewrites tonic's answer so every method
//! says the same thing, with goalpost's ErrorInfo.

use tonic::{Code, Status};

use crate::error::ApiError;

/// How tonic's message for a request over the limit begins.
const TONIC_TOO_LARGE: &str = "Error, decoded message length too large";

/// The error for a request message over `limit_bytes`.
pub fn message_too_large(what: &str, limit_bytes: usize) -> ApiError {
    ApiError::ResourceExhausted {
        reason: "MESSAGE_TOO_LARGE",
        message: format!(
            "{what} is larger than the {} MiB a message may hold: send smaller batches (WriteObservations) or chunks (StreamObservations)",
            limit_bytes / (1024 * 1024)
        ),
    }
}

/// Rewrites tonic's OUT_OF_RANGE for an oversized request into
/// [`message_too_large`] (the limit being `limit_bytes`); every other
/// response passes unchanged. For `tower::util::MapResponseLayer`.
pub fn answer_too_large_as_exhausted(
    mut response: http::Response<tonic::body::Body>,
    limit_bytes: usize,
) -> http::Response<tonic::body::Body> {
    // Every response passes here: look at the code before decoding anything.
    let out_of_range = response
        .headers()
        .get("grpc-status")
        .is_some_and(|code| Code::from_bytes(code.as_bytes()) == Code::OutOfRange);
    if !out_of_range {
        return response;
    }
    let Some(status) = Status::from_header_map(response.headers()) else {
        return response;
    };
    if !status.message().starts_with(TONIC_TOO_LARGE) {
        return response;
    }
    let ours: Status = message_too_large("the request message", limit_bytes).into();
    let headers = response.headers_mut();
    for name in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
        headers.remove(name);
    }
    if ours.add_header(headers).is_err() {
        // Our own status always encodes; should it not, say what tonic said.
        let _ = status.add_header(headers);
    }
    response
}
