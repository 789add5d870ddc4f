//! Property tests of page tokens: a token the service issued decodes back
//! to its key, and anything else a caller sends (noise, edited tokens,
//! forged JSON) is a `page_token` violation or a well-formed key, never a
//! panic.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::*;
use crate::api::fuzzing::{assert_invalid, assert_only_field_violations, hostile_text, mutated};
use crate::api::list::ListRequest;

/// The sort keys the list methods page by.
type MetricKey = String;
type ObservationKey = (String, Uuid, TokenTime);
type ReportKey = (Uuid, TokenTime);

/// Text the database could have stored: anything without NUL.
fn stored_text() -> impl Strategy<Value = String> {
    hostile_text().prop_map(|text| text.replace('\0', ""))
}

fn uuid() -> impl Strategy<Value = Uuid> {
    any::<u128>().prop_map(Uuid::from_u128)
}

/// The microseconds of the years 0001-9999, the moments pages end on.
const PRINTABLE_MICROS: std::ops::RangeInclusive<i64> =
    -62_135_596_800_000_000..=253_402_300_799_999_999;

fn token_time() -> impl Strategy<Value = TokenTime> {
    PRINTABLE_MICROS.prop_map(|micros| TokenTime(DateTime::from_timestamp_micros(micros).unwrap()))
}

fn observation_key() -> impl Strategy<Value = ObservationKey> {
    (stored_text(), uuid(), token_time())
}

/// Decodes `token` for `filter`; checks that a failure is one violation of
/// `page_token`.
fn decode<K: DeserializeOwned>(token: &str, filter: &str) -> Option<K> {
    let mut violations = Violations::default();
    let key = decode_token::<K>(&mut violations, token, filter);
    if key.is_none() && !token.is_empty() {
        assert_eq!(violations.len(), 1);
    }
    assert_only_field_violations(violations, |field| field == "page_token");
    key
}

/// Every text in a decoded key, object keys included.
fn texts(key: &serde_json::Value) -> Vec<&str> {
    use serde_json::Value;
    match key {
        Value::String(text) => vec![text],
        Value::Array(items) => items.iter().flat_map(texts).collect(),
        Value::Object(fields) => fields
            .iter()
            .flat_map(|(name, value)| std::iter::once(name.as_str()).chain(texts(value)))
            .collect(),
        Value::Null | Value::Bool(_) | Value::Number(_) => vec![],
    }
}

/// Tokens a caller could send: noise, edited real tokens, and real tokens
/// carrying forged JSON bodies.
fn forged_token() -> impl Strategy<Value = String> {
    let real =
        (observation_key(), stored_text()).prop_map(|(key, filter)| encode_token(&key, &filter));
    let forged_json = mutated(
        (
            (
                stored_text(),
                uuid(),
                prop_oneof![any::<i64>(), PRINTABLE_MICROS],
            ),
            stored_text(),
        )
            .prop_map(|(key, filter)| {
                serde_json::json!({"after": key, "filter": filter}).to_string()
            }),
    )
    .prop_map(|json| URL_SAFE_NO_PAD.encode(json));
    prop_oneof![hostile_text(), mutated(real), forged_json]
}

proptest! {
    #[test]
    fn issued_tokens_decode_to_their_key_for_their_filter_only(
        key in observation_key(),
        filter in stored_text(),
        other in stored_text(),
    ) {
        let token = encode_token(&key, &filter);
        prop_assert_eq!(decode::<ObservationKey>(&token, &filter), Some(key));
        if other != filter {
            prop_assert_eq!(decode::<ObservationKey>(&token, &other), None);
        }
        // A token is opaque text the client passes back: URL-safe base64.
        prop_assert!(token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn every_key_type_round_trips(
        metric in stored_text(),
        report in (uuid(), token_time()),
        goal in uuid(),
    ) {
        prop_assert_eq!(decode::<MetricKey>(&encode_token(&metric, ""), ""), Some(metric));
        prop_assert_eq!(decode::<ReportKey>(&encode_token(&report, ""), ""), Some(report));
        prop_assert_eq!(decode::<Uuid>(&encode_token(&goal, ""), ""), Some(goal));
    }

    #[test]
    fn token_times_decode_only_within_the_years_0001_to_9999(
        micros in prop_oneof![any::<i64>(), PRINTABLE_MICROS, Just(i64::MIN), Just(i64::MAX)],
    ) {
        let token = encode_token(&micros, "");
        let time = decode::<TokenTime>(&token, "");
        prop_assert_eq!(time.is_some(), PRINTABLE_MICROS.contains(&micros));
        if let Some(time) = time {
            prop_assert_eq!(time.0.timestamp_micros(), micros);
        }
    }

    #[test]
    fn forged_tokens_are_page_token_violations_or_keys_without_nul(
        token in forged_token(),
        filter in stored_text(),
    ) {
        if let Some(key) = decode::<serde_json::Value>(&token, &filter) {
            prop_assert!(texts(&key).iter().all(|text| !text.contains('\0')));
        }
        decode::<ObservationKey>(&token, &filter);
        decode::<ReportKey>(&token, &filter);
        decode::<MetricKey>(&token, &filter);
        decode::<Uuid>(&token, &filter);
    }

    #[test]
    fn list_requests_parse_or_name_only_their_own_fields(
        page_size in any::<i32>(),
        token in forged_token(),
        filter in hostile_text(),
    ) {
        match ListRequest::<ObservationKey>::parse(PageSizes::default(), page_size, &token, filter, &[]) {
            Ok(list) => {
                prop_assert!((1..=MAX_PAGE_SIZE).contains(&list.page_size));
                prop_assert_eq!(list.fetch_limit(), list.page_size + 1);
            }
            Err(error) => assert_invalid(error, |field| {
                matches!(field, "page_size" | "page_token" | "filter")
            }),
        }
    }

    #[test]
    fn paging_by_issued_tokens_returns_every_row_once(
        rows in prop::collection::btree_set(any::<i64>(), 0..40),
        page_size in 1i64..7,
        filter in stored_text(),
    ) {
        // A keyset walk over sorted rows, as a list method does it.
        let rows: Vec<i64> = rows.into_iter().collect();
        let mut seen = Vec::new();
        let mut token = String::new();
        loop {
            let after = decode::<i64>(&token, &filter);
            let fetched: Vec<i64> = rows
                .iter()
                .copied()
                .filter(|row| after.is_none_or(|after| *row > after))
                .take(page_size as usize + 1)
                .collect();
            let (page, next) = into_page(fetched, page_size, &filter, |row| *row);
            prop_assert!(page.len() as i64 <= page_size);
            seen.extend(page);
            if next.is_empty() {
                break;
            }
            token = next;
        }
        prop_assert_eq!(seen, rows);
    }
}
