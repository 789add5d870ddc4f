//! The metric catalog and, once ingestion lands, observations.

pub mod catalog;
pub mod service;
