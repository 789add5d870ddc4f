//! Shared API mechanics used by every service: resource names, enums, times,
//! validation, pagination, filters, field masks, etags and idempotency.

pub mod enums;
pub mod etag;
pub mod field_mask;
pub mod filter;
pub mod idempotency;
pub mod list;
pub mod names;
pub mod pagination;
pub mod time;
pub mod validate;
