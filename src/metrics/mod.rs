//! The metric catalog, observation ingestion and metric queries.

pub mod aggregate;
pub mod buckets;
pub mod catalog;
pub mod convert;
pub mod ingest;
pub mod model;
pub mod query;
pub mod service;
