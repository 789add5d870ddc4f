//! The `reporting` schema for BI tools, and `goalpost bi grant`, which gives
//! a read-only role access to it and nothing else.

use crate::config::BiGrantSettings;

/// Why `goalpost bi grant` failed.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// Placeholder until the command lands.
    #[error("not implemented yet")]
    NotYet,
}

/// Creates (or grants to) the read-only reporting role.
pub async fn grant(_settings: &BiGrantSettings) -> Result<(), GrantError> {
    Err(GrantError::NotYet)
}
