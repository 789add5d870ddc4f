//! Telling a client stream that ended from one that broke off.
//!
//! tonic reports a request stream the client cancelled (HTTP/2 RST_STREAM)
//! to the handler as a normal end of stream, which would make a cancelled
//! StreamObservations commit what it had received. This layer wraps every
//! request body and records whether it ended in an error; handlers that
//! commit a client stream check [`RequestBodyOutcome::broke_off`] first.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// Whether a request's body ended in an error; found in the request's
/// extensions.
#[derive(Debug, Clone, Default)]
pub struct RequestBodyOutcome(Arc<AtomicBool>);

impl RequestBodyOutcome {
    /// Whether the body broke off (cancelled, reset or failed) rather than
    /// ending normally.
    pub fn broke_off(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A request body that records an error in its outcome.
struct WatchedBody {
    inner: tonic::body::Body,
    outcome: RequestBodyOutcome,
}

impl Body for WatchedBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Err(_))) = &polled {
            this.outcome.0.store(true, Ordering::SeqCst);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Wraps the request's body and files its outcome in the extensions; for
/// `tower::util::MapRequestLayer`.
pub fn watch_request_body(
    request: http::Request<tonic::body::Body>,
) -> http::Request<tonic::body::Body> {
    let outcome = RequestBodyOutcome::default();
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(outcome.clone());
    http::Request::from_parts(
        parts,
        tonic::body::Body::new(WatchedBody {
            inner: body,
            outcome,
        }),
    )
}
