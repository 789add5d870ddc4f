//! Collecting every field violation of a request before answering.

use super::{ApiError, FieldViolation};

/// Collects field violations while a request is validated, so that a caller
/// learns about every bad field at once rather than one per round trip.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    /// Records one violation.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    /// Records the violations of a nested check, if it failed with any.
    pub fn absorb<T>(&mut self, result: Result<T, ApiError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(ApiError::InvalidArgument(found)) => {
                self.0.extend(found);
                None
            }
            Err(other) => {
                // Only validation errors are expected here; keep the first
                // other error visible rather than losing it.
                self.0.push(FieldViolation {
                    field: String::new(),
                    description: other.to_string(),
                });
                None
            }
        }
    }

    /// How many violations were recorded.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Orders the violations by `key`, keeping the order of equal keys.
    pub fn sort_by_key<K: Ord>(&mut self, key: impl FnMut(&FieldViolation) -> K) {
        self.0.sort_by_key(key);
    }

    /// INVALID_ARGUMENT with everything recorded; for paths that already know
    /// something was.
    pub fn into_error(self) -> ApiError {
        ApiError::InvalidArgument(self.0)
    }

    /// `Ok(value)` when nothing was recorded, else INVALID_ARGUMENT with all of them.
    pub fn finish<T>(self, value: T) -> Result<T, ApiError> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(ApiError::InvalidArgument(self.0))
        }
    }
}
