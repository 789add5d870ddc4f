//! Logging with `tracing`: text or JSON lines on stderr, filtered by
//! `GOALPOST_LOG` (or `RUST_LOG`), `info` by default. Prometheus metrics
//! live in the submodules.

pub mod exporter;
pub mod grpc_calls;
pub mod scrape;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. Calling it twice is harmless (the second
/// call keeps the first subscriber), which tests rely on.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("GOALPOST_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for people, never into files or collectors.
        .with_ansi(std::io::stderr().is_terminal());
    let _already_set = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
}
