//! AIP-154 etags. A resource's etag is derived from its revision, a counter
//! the database bumps on every change of the row (see the `bump_revision`
//! trigger), so any write makes older etags stale.

use crate::error::{ApiError, ResourceKind};

/// The etag of a resource at `revision`.
pub fn etag(revision: i64) -> String {
    format!("r{revision}")
}

/// Fails with ABORTED unless `given` is empty or the etag of `revision`.
pub fn check(given: &str, revision: i64, kind: ResourceKind, name: &str) -> Result<(), ApiError> {
    if given.is_empty() || given == etag(revision) {
        Ok(())
    } else {
        Err(ApiError::Aborted {
            kind,
            name: name.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_or_current_etags_pass_and_stale_ones_abort() {
        assert!(check("", 3, ResourceKind::Account, "accounts/a").is_ok());
        assert!(check(&etag(3), 3, ResourceKind::Account, "accounts/a").is_ok());
        let stale = check(&etag(2), 3, ResourceKind::Account, "accounts/a").unwrap_err();
        assert_eq!(stale.code(), tonic::Code::Aborted);
    }
}
