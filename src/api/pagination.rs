//! AIP-158 pagination: page sizes and opaque keyset page tokens. A token holds
//! the sort key of the last row returned and the filter it was issued for, so
//! pages stay stable while rows are inserted, and a token cannot be replayed
//! against a different filter.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de::DeserializeOwned};

use crate::error::Violations;

#[cfg(test)]
mod properties;

/// The default of `--default-page-size`: the page size when the caller
/// leaves it at 0.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
/// The default of `--max-page-size`: larger page sizes are reduced to it.
pub const MAX_PAGE_SIZE: i64 = 1000;
/// The largest `--max-page-size` a server accepts: a page is read and
/// answered whole, in one message.
pub const PAGE_SIZE_CEILING: i64 = 10_000;

/// A server's page sizes, the same for every list method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSizes {
    /// The page size when the caller leaves it at 0.
    pub default: i64,
    /// Larger requested sizes are reduced to this.
    pub max: i64,
}

impl Default for PageSizes {
    fn default() -> Self {
        PageSizes {
            default: DEFAULT_PAGE_SIZE,
            max: MAX_PAGE_SIZE,
        }
    }
}

impl PageSizes {
    /// The effective page size for a requested one; negative sizes are
    /// recorded as a violation of `page_size`.
    pub fn page_size(&self, violations: &mut Violations, requested: i32) -> i64 {
        match requested {
            0 => self.default,
            n if n < 0 => {
                violations.add("page_size", "must not be negative");
                self.default
            }
            n => i64::from(n).min(self.max),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct TokenBody<K> {
    /// The sort key of the last row of the previous page.
    after: K,
    /// The filter the token was issued for.
    filter: String,
}

/// A moment in a sort key, written in tokens as microseconds since 1970.
/// Only the years 0001-9999 decode: every page ends on such a moment, and
/// a forged token's other times would fail when bound (PostgreSQL's range
/// is narrower than chrono's) or would not be times at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenTime(pub DateTime<Utc>);

impl Serialize for TokenTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.timestamp_micros().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for TokenTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let micros = i64::deserialize(deserializer)?;
        DateTime::from_timestamp_micros(micros)
            .filter(|time| (1..=9999).contains(&time.year()))
            .map(TokenTime)
            .ok_or_else(|| serde::de::Error::custom("a time outside the years 0001-9999"))
    }
}

/// Reads a page token: `None` for the first page. A token that does not decode
/// or was issued for another filter is recorded as a violation of `page_token`.
pub fn decode_token<K: DeserializeOwned>(
    violations: &mut Violations,
    token: &str,
    filter: &str,
) -> Option<K> {
    if token.is_empty() {
        return None;
    }
    // A forged token could carry a NUL in a text key, which PostgreSQL would
    // refuse (22021) when the key is bound.
    let body: Option<TokenBody<K>> = URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .filter(|value| !holds_nul(value))
        .and_then(|value| serde_json::from_value(value).ok());
    match body {
        Some(body) if body.filter == filter => Some(body.after),
        Some(_) => {
            violations.add(
                "page_token",
                "was issued for a different filter: repeat the original filter or start again without a token",
            );
            None
        }
        None => {
            violations.add(
                "page_token",
                "is not a token returned by this method: pass next_page_token unchanged",
            );
            None
        }
    }
}

/// Whether any string of a decoded token, object keys included, holds a NUL.
fn holds_nul(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(fields) => fields
            .iter()
            .any(|(key, value)| key.contains('\0') || holds_nul(value)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Makes the token of the page that follows the row with sort key `after`.
pub fn encode_token<K: Serialize>(after: &K, filter: &str) -> String {
    let body = TokenBody {
        after,
        filter: filter.to_owned(),
    };
    // Serialising plain keys cannot fail.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&body).unwrap_or_default())
}

/// Splits a result fetched with `LIMIT page_size + 1` into the page and the
/// token of the next page (empty when this page is the last).
pub fn into_page<T, K: Serialize>(
    mut rows: Vec<T>,
    page_size: i64,
    filter: &str,
    sort_key: impl Fn(&T) -> K,
) -> (Vec<T>, String) {
    let page_size = usize::try_from(page_size).unwrap_or(usize::MAX);
    if rows.len() <= page_size {
        return (rows, String::new());
    }
    rows.truncate(page_size);
    let token = rows
        .last()
        .map(|last| encode_token(&sort_key(last), filter))
        .unwrap_or_default();
    (rows, token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn page_sizes_default_cap_and_reject_negatives() {
        let mut violations = Violations::default();
        let sizes = PageSizes::default();
        assert_eq!(sizes.page_size(&mut violations, 0), 50);
        assert_eq!(sizes.page_size(&mut violations, 7), 7);
        assert_eq!(sizes.page_size(&mut violations, 5000), 1000);
        assert!(violations.is_empty());
        sizes.page_size(&mut violations, -1);
        assert!(!violations.is_empty());
    }

    #[test]
    fn a_server_sets_its_own_default_and_cap() {
        let mut violations = Violations::default();
        let sizes = PageSizes {
            default: 5,
            max: 20,
        };
        assert_eq!(sizes.page_size(&mut violations, 0), 5);
        assert_eq!(sizes.page_size(&mut violations, 19), 19);
        assert_eq!(sizes.page_size(&mut violations, 21), 20);
        assert_eq!(sizes.page_size(&mut violations, i32::MAX), 20);
        assert!(violations.is_empty());
    }

    #[test]
    fn tokens_round_trip_for_the_same_filter_only() {
        let id = Uuid::now_v7();
        let token = encode_token(&id, "status = ACTIVE");
        let mut violations = Violations::default();
        let after: Option<Uuid> = decode_token(&mut violations, &token, "status = ACTIVE");
        assert_eq!(after, Some(id));
        assert!(violations.is_empty());

        let other: Option<Uuid> = decode_token(&mut violations, &token, "status = RETIRED");
        assert_eq!(other, None);
        assert!(!violations.is_empty());
    }

    #[test]
    fn garbage_tokens_are_violations() {
        for token in ["nope", "!!!", &URL_SAFE_NO_PAD.encode("{\"x\":1}")] {
            let mut violations = Violations::default();
            let after: Option<Uuid> = decode_token(&mut violations, token, "");
            assert!(after.is_none() && !violations.is_empty(), "{token}");
        }
    }

    #[test]
    fn tokens_holding_a_nul_are_violations() {
        let cases = [
            ("in a text key", r#"{"after":"a\u0000","filter":""}"#),
            ("in a tuple key", r#"{"after":["a\u0000",1],"filter":""}"#),
            (
                "in an object key",
                r#"{"after":"a","filter":"","\u0000":1}"#,
            ),
        ];
        for (description, body) in cases {
            let mut violations = Violations::default();
            let token = URL_SAFE_NO_PAD.encode(body);
            let after: Option<serde_json::Value> = decode_token(&mut violations, &token, "");
            assert!(after.is_none(), "{description}");
            assert_eq!(violations.len(), 1, "{description}");
        }
        let mut violations = Violations::default();
        let token = encode_token(&("a\\u0000".to_owned(), 1), "");
        let after: Option<(String, i32)> = decode_token(&mut violations, &token, "");
        assert!(after.is_some(), "an escaped backslash is not a NUL");
    }

    #[test]
    fn token_times_outside_the_years_0001_to_9999_are_violations() {
        let cases = [
            // chrono holds this moment; PostgreSQL's timestamps begin just after.
            ("before 4714-11-24 BC", -210_866_803_200_000_001),
            ("before chrono's range", i64::MIN),
            ("after chrono's range", i64::MAX),
            ("year 0", -62_135_596_800_000_001),
            ("year 10000", 253_402_300_800_000_000),
        ];
        for (description, micros) in cases {
            let mut violations = Violations::default();
            let token = encode_token(&(Uuid::nil(), micros), "");
            let after: Option<(Uuid, TokenTime)> = decode_token(&mut violations, &token, "");
            assert!(after.is_none(), "{description}");
            assert_eq!(violations.len(), 1, "{description}");
        }
        let time = TokenTime("2026-01-31T10:00:00.123456Z".parse().unwrap());
        let token = encode_token(&time, "");
        let mut violations = Violations::default();
        assert_eq!(decode_token(&mut violations, &token, ""), Some(time));
        // The same text as the microseconds tokens held before.
        assert_eq!(token, encode_token(&time.0.timestamp_micros(), ""));
    }

    #[test]
    fn into_page_emits_a_token_only_when_more_rows_exist() {
        let (rows, token) = into_page(vec![1, 2, 3], 3, "", |n| *n);
        assert_eq!((rows.len(), token.as_str()), (3, ""));
        let (rows, token) = into_page(vec![1, 2, 3, 4], 3, "", |n| *n);
        assert_eq!(rows, [1, 2, 3]);
        let mut violations = Violations::default();
        assert_eq!(decode_token::<i32>(&mut violations, &token, ""), Some(3));
    }
}
