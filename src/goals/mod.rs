//! Goals and their key results: the domain model, its storage, the framework
//! checks shared with ProgressService, and `GoalService`.

pub mod cache;
pub mod catalog;
pub mod checks;
pub mod convert;
pub mod goal_methods;
pub mod input;
pub mod key_result_input;
pub mod key_results;
pub mod milestones;
pub mod model;
pub mod repo;
pub mod service;
