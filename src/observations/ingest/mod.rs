//! Observation ingestion, shared by WriteObservations, StreamObservations
//! and completed audits.
//!
//! Rows are validated and their series and source ids resolved (series and
//! sources are created in their own short transactions: harmless if the load
//! fails, and no long load holds their locks). Resolved rows are then loaded
//! in batches inside the caller's transaction, each batch in a savepoint:
//!
//! - fast path: binary COPY straight into `observation`, and the batch's
//!   per-(series, day) aggregates (sum, count, min, max, last), computed
//!   here, appended to a temporary delta table (held back one batch, so a
//!   day split across two batches arrives whole). When the load ends the
//!   deltas go into `observation_daily` in one statement: a plain insert for
//!   days without rollups, else an aggregating upsert. Until then the load
//!   holds no lock on any rollup, so writers of the same days are not kept
//!   waiting by a long backfill;
//! - slow path, when the batch meets a key that already exists (or repeats a
//!   key): back to the savepoint, keep the last row per key, upsert through a
//!   staging table, pass the fresh rows' aggregates on as above and, when the
//!   load ends, recompute from raw rows each day in which a value was replaced (a
//!   replacement can lower a maximum or move the last value, so it cannot be
//!   folded in).
//!
//! The same end-of-load statements keep the organisation-level rollups and
//! the registered selections' rollups ([`crate::observations::selections`])
//! in step, in the load's transaction.
//!
//! Memory stays bounded by the batch size however long a stream runs. New
//! series get ids in the order rows first name them, so a backfill sent
//! series by series appends at the right edge of the indexes.

pub mod copy;
mod load;
mod resolve;
mod rollup;
mod savepoint;
mod selection_rollup;

pub(crate) use selection_rollup::fill_selections;

use sqlx::PgConnection;

pub use load::{BATCH_ROWS, Loader};
pub use resolve::{Lookup, Resolver};

use super::model::ObservationRow;
use crate::auth::tokens::TokenName;
use crate::error::ApiError;

/// A row ready for COPY: every reference resolved to an id.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StagedRow {
    /// The series (metric, account).
    pub series_id: i64,
    /// The series' metric's number.
    pub metric_id: i16,
    /// When, in microseconds since the Unix epoch.
    pub observed_at_micros: i64,
    /// The value.
    pub value: f64,
    /// The source label's id.
    pub source_id: i32,
}

/// Checks a message's count of observations: at least one, at most `max`.
pub fn check_batch_size(count: usize, max: usize) -> Result<(), ApiError> {
    if count == 0 {
        return Err(ApiError::invalid_field(
            "observations",
            "must hold at least one observation",
        ));
    }
    if count > max {
        return Err(ApiError::invalid_field(
            "observations",
            format!(
                "holds {count} observations, at most {max} are allowed per message: split the batch or use StreamObservations"
            ),
        ));
    }
    Ok(())
}

/// FAILED_PRECONDITION for a write whose account was deleted after its rows
/// were checked: nothing of the write is stored.
pub(crate) fn account_deleted() -> ApiError {
    ApiError::failed_precondition(
        "ACCOUNT_DELETED",
        "observations",
        "an account these observations name was deleted while they were being written: nothing was stored",
    )
}

/// Loads one batch of resolved rows inside the caller's transaction `conn`;
/// returns how many observations were written.
pub async fn write_in(conn: &mut PgConnection, rows: Vec<StagedRow>) -> Result<i64, ApiError> {
    let mut loader = Loader::new(conn);
    loader.load(rows).await?;
    loader.finish().await
}

/// Records rows the caller built and checked itself (base metrics of the
/// catalog, existing accounts) in the caller's transaction `conn`, creating
/// their series there too: the in-process entry of CompleteAudit's
/// snapshot, with no wire messages and no second connection. `token` is
/// the caller's, recorded as the rows' provenance. Returns how many
/// observations were written.
pub async fn record_in(
    conn: &mut PgConnection,
    rows: &[ObservationRow<'_>],
    token: Option<TokenName>,
) -> Result<i64, ApiError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let staged = {
        let mut lookup = Lookup::Transaction(&mut *conn);
        let mut resolver = Resolver::new(&mut lookup, token).await?;
        resolver.stage(&mut lookup, rows).await?
    };
    write_in(conn, staged).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_sizes_are_bounded() {
        let max = crate::observations::model::MAX_OBSERVATIONS_PER_MESSAGE;
        assert!(check_batch_size(0, max).is_err());
        assert!(check_batch_size(1, max).is_ok());
        assert!(check_batch_size(max, max).is_ok());
        assert!(check_batch_size(max + 1, max).is_err());
    }
}
