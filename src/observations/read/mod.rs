//! Reading observations: listing them, and the window evaluator that
//! QueryMetric and progress share.

pub mod buckets;
pub mod combine;
pub mod day_grid;
pub mod evaluate;
pub mod list;
pub mod organisation_last;
pub mod per_series;
pub mod query;
pub mod selected;

use crate::catalog::cache::CatalogCache;
use selected::SeriesCache;

/// What the reads keep in memory across calls, each exact on its own terms;
/// clones share them. Fresh ones (`default`) serve no catalog from memory
/// until the change listener is followed and listening, so one-off work can
/// use them and read the catalog itself.
#[derive(Debug, Clone, Default)]
pub struct ReadCaches {
    /// The metric catalog.
    pub catalog: CatalogCache,
    /// The ids of selected series.
    pub series: SeriesCache,
}

/// Up to this many items (windows with raw edges, cut parts) are read one
/// statement each, in [`Statements::one`]'s form; more in one statement, in
/// [`Statements::many`]'s, which costs more to plan (its items' bounds are
/// arrays; only the span of them all prunes partitions before it runs), so
/// that a history's steps read it and a single answer's few windows do not.
pub const ONE_BY_ONE: usize = 12;

/// One read in two forms: `one` for a single item whose values are plain
/// parameters (PostgreSQL then prunes the yearly partitions before it plans,
/// cheaper than planning every partition), `many` for arrays of them (one
/// statement for many items, pruned as each item is read).
pub struct Statements {
    pub one: String,
    pub many: String,
}
