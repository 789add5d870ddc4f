//! Social accounts: the inventory an audit reviews and goals measure.

pub mod convert;
pub mod model;
pub mod repo;
pub mod service;
