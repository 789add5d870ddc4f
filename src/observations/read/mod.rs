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
