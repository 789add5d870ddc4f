//! The `/metrics` endpoint: plain HTTP/1.1 on `--metrics-addr`, apart
//! from the gRPC listener (scrapers speak HTTP/1 and no TLS; operators
//! keep the address internal).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use super::exporter::{Exporter, RecorderError, ScrapeSources};

/// The content type of Prometheus's text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// How long a scraper may take to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The most scrape connections served at once; more are closed at once,
/// so a misbehaving client cannot pile up sockets.
const MAX_CONNECTIONS: usize = 32;

/// Why the metrics endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The address is unusable.
    #[error("cannot serve metrics on {address}: {source}")]
    Bind {
        /// The address asked for.
        address: SocketAddr,
        /// Why binding failed.
        source: std::io::Error,
    },
    /// The recorder could not be installed.
    #[error(transparent)]
    Recorder(#[from] RecorderError),
}

/// A bound metrics endpoint, not yet serving.
#[derive(Debug)]
pub struct MetricsEndpoint {
    listener: TcpListener,
    exporter: Exporter,
}

/// A serving metrics endpoint; dropping it stops it at once (a scrape cut
/// off is simply retried by the scraper).
#[derive(Debug)]
pub struct ServingEndpoint {
    task: JoinHandle<()>,
}

impl MetricsEndpoint {
    /// Installs the recorder and binds `address` when there is one (so port
    /// 0 works and the real port can be read back); `None` leaves metrics
    /// off.
    pub async fn bind(address: Option<SocketAddr>) -> Result<Option<Self>, MetricsError> {
        let Some(address) = address else {
            return Ok(None);
        };
        let exporter = Exporter::install()?;
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| MetricsError::Bind { address, source })?;
        Ok(Some(MetricsEndpoint { listener, exporter }))
    }

    /// The address the endpoint listens on.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves scrapes, sampling `sources` for each, until stopped.
    pub fn start(self, sources: ScrapeSources) -> ServingEndpoint {
        let task = tokio::spawn(serve(self.listener, self.exporter, sources));
        ServingEndpoint { task }
    }
}

impl Drop for ServingEndpoint {
    fn drop(&mut self) {
        // Aborting the accept loop drops its connections, aborting them too.
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, exporter: Exporter, sources: ScrapeSources) {
    // Dropped when the task is aborted, which aborts the connections too.
    let mut connections = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors, say: pause rather than spin.
                tracing::warn!(%error, "metrics endpoint cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        if connections.len() >= MAX_CONNECTIONS {
            continue;
        }
        let exporter = exporter.clone();
        let sources = sources.clone();
        connections.spawn(async move {
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let response = answer(&exporter, &sources, &request);
                async move { Ok::<_, Infallible>(response) }
            });
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(error) = served {
                tracing::debug!(%error, "metrics connection ended with an error");
            }
        });
    }
}

/// The answer to one request: the metrics at `GET /metrics` (and `HEAD`),
/// a short explanation anywhere else.
fn answer<B>(
    exporter: &Exporter,
    sources: &ScrapeSources,
    request: &Request<B>,
) -> Response<Full<Bytes>> {
    if request.uri().path() != "/metrics" {
        return plain(
            StatusCode::NOT_FOUND,
            "not found: metrics are at /metrics\n",
        );
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed: use GET\n",
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let mut response = Response::new(Full::new(Bytes::from(exporter.render(sources))));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT));
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
