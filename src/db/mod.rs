//! Database plumbing: the connection pool, migrations, read-only snapshots, whether
//! the database answers, the private local PostgreSQL instance, and the connection of
//! one-off commands.

pub mod abandoned;
pub mod availability;
pub mod command;
pub mod local;
pub mod pool;
pub mod snapshot;
