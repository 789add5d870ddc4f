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
