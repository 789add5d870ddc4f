//! Observations: the stream of metric values, how they are ingested
//! (validated, resolved to series, loaded with their daily rollups) and
//! read (listed, and evaluated over windows), and the gRPC `MetricService`
//! that serves them with the catalog.

pub mod ingest;
pub mod model;
pub mod read;
pub mod selections;
pub mod service;
