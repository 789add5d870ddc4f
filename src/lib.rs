//! goalpost: a gRPC service that keeps a company's social media goals in
//! PostgreSQL and tells how far along they are.

pub mod accounts;
pub mod api;
pub mod app;
pub mod audits;
pub mod auth;
pub mod catalog;
pub mod changes;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod goals;
pub mod observations;
pub mod progress;
pub mod reporting;
pub mod snapshots;
pub mod telemetry;
pub mod tls;

/// The generated protobuf types and services of `goalpost.v1`.
pub mod pb {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("goalpost.v1");

    /// The encoded descriptor set of every goalpost proto, for reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("goalpost_descriptor");
}
