//! Running one step of a load in a savepoint, so that the two conflicts a
//! load expects undo only that step and leave the transaction usable.

use sqlx::PgConnection;

/// SQLSTATE unique_violation: the step met a key that already exists, or
/// that it repeats.
const UNIQUE_VIOLATION: &str = "23505";

/// SQLSTATE deadlock_detected: PostgreSQL cancelled the step to break a
/// cycle of waits with another transaction.
const DEADLOCK_DETECTED: &str = "40P01";

/// How a step run between [`begin`] and [`settle`] ended.
#[derive(Debug)]
pub(super) enum Attempt<T> {
    /// It succeeded and its work is kept.
    Done(T),
    /// It met an existing or repeated key; its work was undone.
    KeyExists(sqlx::Error),
    /// PostgreSQL cancelled it to break a deadlock; its work was undone and
    /// its locks released, so the other side can go on.
    Deadlocked(sqlx::Error),
}

/// Opens the savepoint `name` for a step; [`settle`] closes it.
///
/// (A helper taking the step as an async closure would read better, but
/// rustc cannot yet prove such futures `Send` for every lifetime of the
/// connection they borrow.)
pub(super) async fn begin(conn: &mut PgConnection, name: &'static str) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("savepoint {name}"))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Closes the savepoint `name` after its step ended with `result`: keeps
/// the step's work when it succeeded; rolls it back and says why when it
/// met a unique violation or a deadlock; returns any other error as it is
/// (leaving the transaction to be rolled back).
pub(super) async fn settle<T>(
    conn: &mut PgConnection,
    name: &'static str,
    result: Result<T, sqlx::Error>,
) -> Result<Attempt<T>, sqlx::Error> {
    let outcome = match result {
        Ok(value) => Attempt::Done(value),
        Err(error) => match sqlstate(&error).as_deref() {
            Some(UNIQUE_VIOLATION) => Attempt::KeyExists(error),
            Some(DEADLOCK_DETECTED) => Attempt::Deadlocked(error),
            _ => return Err(error),
        },
    };
    if !matches!(outcome, Attempt::Done(_)) {
        sqlx::query(&format!("rollback to savepoint {name}"))
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query(&format!("release savepoint {name}"))
        .execute(&mut *conn)
        .await?;
    Ok(outcome)
}

fn sqlstate(error: &sqlx::Error) -> Option<String> {
    Some(error.as_database_error()?.code()?.into_owned())
}
