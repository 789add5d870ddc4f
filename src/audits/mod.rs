//! Audits: dated reviews of the social accounts, frozen once completed, with
//! findings computed at completion.

pub mod convert;
pub mod findings;
pub mod model;
pub mod repo;
pub mod service;
