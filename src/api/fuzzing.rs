//! Input generators and checks shared by the parsers' property tests.
//!
//! Random noise rarely gets past a parser's first character, so most of what
//! these generate is near the valid grammar: valid input with a few edits,
//! and runs of fragments that mean something to some layer between the
//! caller and PostgreSQL (quotes, escapes, operators, name segments, NUL and
//! other control characters, odd unicode, sheer length).

use proptest::prelude::*;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::error::ApiError;

mod generators;

pub use generators::*;

/// Checks that `error` is INVALID_ARGUMENT whose every violation names a
/// field `field_ok` accepts, and that it reaches the client as such, with a
/// BadRequest. A violation without a field would be one the database raised
/// after the value slipped past validation.
#[track_caller]
pub fn assert_invalid(error: ApiError, field_ok: impl Fn(&str) -> bool) {
    let ApiError::InvalidArgument(violations) = &error else {
        panic!("expected INVALID_ARGUMENT, got {error:?}");
    };
    assert!(!violations.is_empty(), "no violation listed");
    for violation in violations {
        assert!(
            !violation.field.is_empty() && field_ok(&violation.field),
            "unexpected field {:?} ({})",
            violation.field,
            violation.description
        );
    }
    let status = Status::from(error);
    assert_eq!(status.code(), Code::InvalidArgument);
    let details = status.get_error_details();
    assert!(
        details.bad_request().is_some(),
        "no BadRequest in {status:?}"
    );
}

/// [`assert_invalid`] for the violations collected in `violations`, when
/// there are any.
#[track_caller]
pub fn assert_only_field_violations(
    violations: crate::error::Violations,
    field_ok: impl Fn(&str) -> bool,
) {
    if let Err(error) = violations.finish(()) {
        assert_invalid(error, field_ok);
    }
}

/// Names near `{collection}/{uuid}` for random ids.
pub fn name_near(collection: crate::api::names::Collection) -> BoxedStrategy<String> {
    around(any::<u128>().prop_map(move |id| collection.name(uuid::Uuid::from_u128(id))))
}

/// Checks that a text passed as valid is fit to store: at most `max_chars`
/// characters and no control characters (line breaks and tabs allowed in
/// multi-line text), so certainly no NUL.
#[track_caller]
pub fn assert_storable(text: &str, max_chars: usize, lines: crate::api::validate::Lines) {
    use crate::api::validate::Lines;
    assert!(text.chars().count() <= max_chars, "{text:?} is too long");
    assert_eq!(text, text.trim(), "untrimmed");
    let allowed = |c: char| lines == Lines::Multi && matches!(c, '\n' | '\r' | '\t');
    assert!(
        text.chars().all(|c| !c.is_control() || allowed(c)),
        "{text:?} holds a control character"
    );
}
