//! Running one step of a load in a savepoint, so that the two conflicts a
//! load expects undo only that step and leave the transaction usable.

use sqlx::PgConnection;

use crate::error::ApiError;

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

impl<T> Attempt<T> {
    /// The same outcome with the value of a successful step mapped.
    pub(super) fn map<U>(self, f: impl FnOnce(T) -> U) -> Attempt<U> {
        match self {
            Attempt::Done(value) => Attempt::Done(f(value)),
            Attempt::KeyExists(error) => Attempt::KeyExists(error),
            Attempt::Deadlocked(error) => Attempt::Deadlocked(error),
        }
    }
}

/// Counts the attempts of a step that is tried again when PostgreSQL
/// cancels it to break a deadlock (the step undoes itself, see [`settle`]).
/// The last deadlock is ABORTED: the other side holds what this one needs
/// and will not let go before it commits.
pub(super) struct DeadlockRetries {
    /// The attempts made so far.
    pub made: u32,
    limit: u32,
    /// Names the step in the logs.
    step: &'static str,
}

impl DeadlockRetries {
    /// At most `limit` attempts of `step`.
    pub(super) fn new(limit: u32, step: &'static str) -> Self {
        DeadlockRetries {
            made: 0,
            limit,
            step,
        }
    }

    /// Takes the outcome of one more attempt: its value when it succeeded,
    /// `None` when it should be tried again, or the error that ends it.
    pub(super) fn settle<T>(&mut self, outcome: Attempt<T>) -> Result<Option<T>, ApiError> {
        self.made += 1;
        match outcome {
            Attempt::Done(value) => Ok(Some(value)),
            Attempt::Deadlocked(error) if self.made >= self.limit => {
                Err(ApiError::ConcurrentWrite(error))
            }
            Attempt::Deadlocked(_) => {
                tracing::info!(
                    attempt = self.made,
                    step = self.step,
                    "a concurrent load crossed this one, trying again"
                );
                Ok(None)
            }
            // The steps retried here merge existing keys, they cannot meet
            // one.
            Attempt::KeyExists(error) => Err(ApiError::internal(error)),
        }
    }
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
