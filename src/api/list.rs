//! The shared shape of every List method: a page size, a keyset page token
//! and an AIP-160 filter, parsed together so every problem is reported at once.

use serde::{Serialize, de::DeserializeOwned};

use crate::api::filter::{self, Conditions, FilterField};
use crate::api::pagination::{self, PageSizes};
use crate::error::{ApiError, Violations};

/// A validated list request whose keyset sort key is `K`.
#[derive(Debug)]
pub struct ListRequest<K> {
    /// How many rows the page holds at most.
    pub page_size: i64,
    /// The sort key of the last row of the previous page.
    pub after: Option<K>,
    /// The filter, compiled.
    pub conditions: Conditions,
    filter: String,
}

impl<K: Serialize + DeserializeOwned> ListRequest<K> {
    /// Checks `page_size` (against the server's `sizes`), `page_token` and
    /// `filter` (against the method's filterable `fields`).
    pub fn parse(
        sizes: PageSizes,
        page_size: i32,
        page_token: &str,
        filter: String,
        fields: &[FilterField],
    ) -> Result<Self, ApiError> {
        let mut violations = Violations::default();
        let page_size = sizes.page_size(&mut violations, page_size);
        let after = pagination::decode_token(&mut violations, page_token, &filter);
        let conditions = violations
            .absorb(filter::compile(&filter, fields))
            .unwrap_or_default();
        violations.finish(ListRequest {
            page_size,
            after,
            conditions,
            filter,
        })
    }

    /// How many rows to fetch: one more than a page, to learn whether
    /// another page follows.
    pub fn fetch_limit(&self) -> i64 {
        self.page_size + 1
    }

    /// Cuts fetched rows to the page and makes the next page's token.
    pub fn into_page<T>(&self, rows: Vec<T>, sort_key: impl Fn(&T) -> K) -> (Vec<T>, String) {
        pagination::into_page(rows, self.page_size, &self.filter, sort_key)
    }
}
