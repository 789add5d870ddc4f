//! How database errors map onto [`ApiError`]: SQLSTATEs that mean "retry",
//! "too late" or "bad text" get their own codes; everything else is internal
//! and never shows its text.

use super::ApiError;

/// SQLSTATE classes and codes that mean "the server is not there right now".
fn is_transient_database_code(code: &str) -> bool {
    // 08: connection exceptions; 57P01-57P03: shutdown and cannot-connect-now;
    // 53300: too many connections.
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::PoolTimedOut => {
                crate::telemetry::exporter::pool_acquire_timed_out();
                ApiError::Unavailable(error)
            }
            sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => ApiError::Unavailable(error),
            sqlx::Error::Database(db) => match db.code().as_deref() {
                // query_canceled: our statement_timeout, set from the deadline.
                Some("57014") => ApiError::DeadlineExceeded,
                // deadlock_detected, serialization_failure: another writer won.
                Some("40P01" | "40001") => ApiError::ConcurrentWrite(error),
                Some(code) if is_transient_database_code(code) => ApiError::Unavailable(error),
                // character_not_in_repertoire, untranslatable_character: a NUL
                // or similar in caller text. Field checks stop these first;
                // this keeps one that slipped past a client error.
                Some("22021" | "22P05") => {
                    tracing::warn!(error = %error, "text the database cannot hold passed validation");
                    ApiError::invalid_field(
                        "",
                        "a text value holds a character the database cannot store, such as NUL: remove it",
                    )
                }
                _ => ApiError::internal(error),
            },
            _ => ApiError::internal(error),
        }
    }
}

/// The name of the constraint a database error violated, if any.
pub fn violated_constraint(error: &sqlx::Error) -> Option<&str> {
    match error {
        sqlx::Error::Database(db) => db.constraint(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use tonic::{Code, Status};
    use tonic_types::StatusExt;

    use super::*;

    #[test]
    fn pool_timeouts_are_unavailable_and_retryable() {
        let error = ApiError::from(sqlx::Error::PoolTimedOut);
        assert_eq!(error.code(), Code::Unavailable);
        let status: Status = error.into();
        assert!(status.get_error_details().retry_info().is_some());
    }

    /// A database error with only a SQLSTATE, as PostgreSQL would send it.
    #[derive(Debug)]
    struct Sqlstate(&'static str);

    impl fmt::Display for Sqlstate {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "database error {}", self.0)
        }
    }

    impl std::error::Error for Sqlstate {}

    impl sqlx::error::DatabaseError for Sqlstate {
        fn message(&self) -> &str {
            "invalid byte sequence for encoding \"UTF8\": 0x00"
        }

        fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
            Some(self.0.into())
        }

        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }

        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }

        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }

        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    #[test]
    fn text_the_database_cannot_hold_is_invalid_argument() {
        let cases = [
            ("NUL in text", "22021", Code::InvalidArgument),
            ("untranslatable character", "22P05", Code::InvalidArgument),
            ("float overflow stays internal", "22003", Code::Internal),
        ];
        for (description, code, expected) in cases {
            let error = ApiError::from(sqlx::Error::Database(Box::new(Sqlstate(code))));
            assert_eq!(error.code(), expected, "{description}");
            let status: Status = error.into();
            assert!(!status.message().contains("0x00"), "{description}");
        }
    }
}
