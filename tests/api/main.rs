//! The gRPC integration tests: each test starts a real server on a free port
//! over its own fresh database on real PostgreSQL (`DATABASE_URL` when set,
//! else a private instance started for the test run).

mod accounts;
mod audits;
mod auth;
mod database_outage;
mod demo;
mod fuzz;
mod goals;
mod helpers;
mod idempotency;
mod ingest_corrections;
mod ingest_races;
mod ingest_stress;
mod limits;
mod local_postgres;
mod metrics;
mod observations;
mod odd_values;
mod platform;
mod progress;
mod prometheus;
mod query_consistency;
mod reporting;
mod snapshots;
mod tls;
mod watch;
