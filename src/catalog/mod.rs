//! The metric catalog: what a metric is (base or derived, how it
//! aggregates, which way is better), the built-in and custom definitions in
//! storage, and their conversion to the API's types.

pub mod cache;
pub mod convert;
pub mod formula;
pub mod model;
pub mod repo;
pub mod service;

/// Which way a metric improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// More is better.
    Higher,
    /// Less is better.
    Lower,
}

/// Whether `key` has the shape of a metric key: a lowercase letter, then up
/// to 62 lowercase letters, digits and underscores (the database's check).
pub fn is_metric_key(key: &str) -> bool {
    let mut chars = key.chars();
    key.len() <= 63
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}
