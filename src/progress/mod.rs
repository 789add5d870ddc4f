//! The read side: how far along goals and key results are.
//!
//! `math` and `forecast` are the rules of DESIGN §2 as pure functions;
//! `evaluate` feeds them window values read through the observation
//! evaluator; `service` and `convert` are the gRPC edge.

pub mod achievability;
pub mod convert;
pub mod evaluate;
pub mod forecast;
pub mod math;
pub mod report;
pub mod service;
pub mod watch;
