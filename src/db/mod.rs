//! Database plumbing: the connection pool, migrations and the private local
//! PostgreSQL instance.

pub mod availability;
pub mod local;
pub mod pool;
