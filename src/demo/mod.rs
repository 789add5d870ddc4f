//! `goalpost demo`: a realistic data set loaded through the service's own API.

use crate::config::DemoSettings;

/// Why the demo could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Placeholder until the command lands.
    #[error("not implemented yet")]
    NotYet,
}

/// Loads the demo data set into the service at `settings.server`.
pub async fn run(_settings: &DemoSettings) -> Result<(), DemoError> {
    Err(DemoError::NotYet)
}
