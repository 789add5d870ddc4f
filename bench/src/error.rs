//! The benchmark's one error type: any error, with what was being done.

use std::error::Error;
use std::fmt;

/// Any error, with the context that explains where it happened.
pub type BoxError = Box<dyn Error + Send + Sync>;
/// The result of everything fallible in this binary.
pub type Result<T, E = BoxError> = std::result::Result<T, E>;

/// An error wrapped with what was being done when it happened.
#[derive(Debug)]
pub struct ContextError {
    /// What was being done, such as "create account 3".
    pub context: String,
    /// What went wrong.
    pub source: BoxError,
}

impl fmt::Display for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.context, self.source)
    }
}

impl Error for ContextError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(self.source.as_ref())
    }
}

/// Adds context to the error of a `Result`, as `anyhow` would, in a few
/// lines instead of another dependency.
pub trait Context<T> {
    /// Wraps the error with a fixed message.
    fn context(self, context: &str) -> Result<T>;
    /// Wraps the error with a message built only when there is an error.
    fn with_context(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<BoxError>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: &str) -> Result<T> {
        self.with_context(|| context.to_owned())
    }

    fn with_context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| {
            Box::new(ContextError {
                context: context(),
                source: source.into(),
            }) as BoxError
        })
    }
}
