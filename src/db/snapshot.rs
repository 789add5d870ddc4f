//! Read-only snapshots: one repeatable-read transaction per answer, so
//! that every statement of the answer sees the same committed data.

use sqlx::{Connection, PgConnection, Postgres, Transaction};

use crate::error::ApiError;

/// The statement that opens a read-only snapshot.
pub const BEGIN: &str = "begin isolation level repeatable read, read only";

/// Opens a read-only snapshot on `conn`.
pub async fn begin(conn: &mut PgConnection) -> Result<Transaction<'_, Postgres>, ApiError> {
    Ok(conn.begin_with(BEGIN).await?)
}

/// Ends a read-only snapshot without waiting for the database. It has
/// nothing to commit, so it is dropped, which queues its ROLLBACK on the
/// connection; the pool sends that with the ping that checks a released
/// connection, after the answer has gone. A COMMIT here would be a round
/// trip on every answer's path.
pub fn end(snapshot: Transaction<'_, Postgres>) {
    drop(snapshot);
}
