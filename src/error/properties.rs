//! Property test of error statuses: whatever caller text an error echoes,
//! its status fits in the 16 KiB of headers a tonic (hyper) client accepts,
//! so a client never sees a protocol error in place of the answer.

use proptest::prelude::*;

use super::*;
use crate::api::fuzzing::hostile_text;

/// The header list size hyper's HTTP/2 client accepts by default (h2
/// counts each header as its name, its value and 32 bytes), less room for
/// the response's other headers (`:status`, `content-type`).
const CLIENT_HEADER_LIST_LIMIT: usize = 16 * 1024 - 256;

fn header_list_size(status: &Status) -> usize {
    let mut headers = http::HeaderMap::new();
    status.add_header(&mut headers).expect("a status encodes");
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 32)
        .sum()
}

/// Texts of every width: wide characters (up to 4 bytes, 12 once
/// percent-encoded) are what a character count misjudges.
fn echoed_text() -> impl Strategy<Value = String> {
    prop_oneof![
        hostile_text(),
        (
            prop::sample::select(vec!["a", "\u{1}", "é", "\u{2028}", "🎯"]),
            0..3000usize
        )
            .prop_map(|(piece, times)| piece.repeat(times)),
    ]
}

fn error() -> impl Strategy<Value = ApiError> {
    let violation = (echoed_text(), echoed_text())
        .prop_map(|(field, description)| FieldViolation { field, description });
    prop_oneof![
        prop::collection::vec(violation, 1..40).prop_map(ApiError::InvalidArgument),
        echoed_text().prop_map(|name| ApiError::NotFound {
            kind: ResourceKind::Metric,
            name,
        }),
        (echoed_text(), echoed_text()).prop_map(|(name, message)| ApiError::AlreadyExists {
            kind: ResourceKind::Account,
            name,
            message,
        }),
        (echoed_text(), echoed_text()).prop_map(|(subject, description)| {
            ApiError::failed_precondition("AUDIT_COMPLETED", subject, description)
        }),
    ]
}

proptest! {
    #[test]
    fn statuses_fit_in_a_clients_header_limit(error in error()) {
        let code = error.code();
        let status = Status::from(error);
        prop_assert_eq!(status.code(), code);
        let size = header_list_size(&status);
        prop_assert!(size <= CLIENT_HEADER_LIST_LIMIT, "{size} bytes of headers");
    }
}
