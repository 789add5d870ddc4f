//! Progress snapshots.
