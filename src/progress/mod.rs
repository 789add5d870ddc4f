//! The read side: progress of goals and key results.

pub mod service;
