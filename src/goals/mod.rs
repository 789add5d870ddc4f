//! Goals and their key results.

pub mod service;
