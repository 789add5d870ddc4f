//! Field checks shared by every resource. Each records its findings in a
//! [`Violations`] collector and returns the cleaned value, so a handler can
//! check every field before failing.

use crate::api::enums::ProtoEnum;
use crate::error::Violations;

/// The largest magnitude of a caller's number that ends up summed in SQL
/// (observation values, audit figures). Every whole number up to it is exact
/// in a double, and no realistic sum of such values overflows float8, which
/// PostgreSQL reports as an error (22003) where Rust would give infinity.
pub const MAX_VALUE_MAGNITUDE: f64 = 1e15;

/// Whether a text may span several lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// Names, titles, handles: no control characters at all.
    Single,
    /// Notes and descriptions: newlines and tabs allowed.
    Multi,
}

/// Checks a text field: surrounding whitespace is trimmed, then the value must
/// be non-empty when `required`, at most `max_chars` characters, and free of
/// control characters (newlines and tabs allowed in [`Lines::Multi`]).
pub fn text(
    violations: &mut Violations,
    field: &str,
    value: &str,
    max_chars: usize,
    required: bool,
    lines: Lines,
) -> String {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        if required {
            violations.add(field, "is required and must not be blank");
        }
        return String::new();
    }
    let length = trimmed.chars().count();
    if length > max_chars {
        violations.add(
            field,
            format!("must be at most {max_chars} characters, got {length}"),
        );
    }
    plain(violations, field, trimmed, lines);
    trimmed.to_owned()
}

/// Checks that a text holds no control characters (newlines and tabs allowed
/// in [`Lines::Multi`]); returns whether it passed. Every caller text goes
/// through here before it is stored or compared: PostgreSQL text cannot hold
/// a NUL byte at all (SQLSTATE 22021).
pub fn plain(violations: &mut Violations, field: &str, value: &str, lines: Lines) -> bool {
    let allowed = |c: char| lines == Lines::Multi && matches!(c, '\n' | '\r' | '\t');
    let Some(bad) = value.chars().find(|&c| c.is_control() && !allowed(c)) else {
        return true;
    };
    violations.add(
        field,
        format!("must not contain control characters such as NUL, found {bad:?}: remove them"),
    );
    false
}

/// Checks a caller's number that ends up summed: it must be finite and within
/// ±[`MAX_VALUE_MAGNITUDE`]. The field path is only built for a violation, so
/// bulk writes pay nothing for valid rows.
pub fn bounded_value(
    violations: &mut Violations,
    field: impl FnOnce() -> String,
    value: f64,
) -> bool {
    // NaN compares false, so it fails here too.
    if value.abs() <= MAX_VALUE_MAGNITUDE {
        return true;
    }
    violations.add(
        field(),
        format!(
            "must be a finite number from -{MAX_VALUE_MAGNITUDE:e} to {MAX_VALUE_MAGNITUDE:e}, got {value:e}: record it in a larger unit"
        ),
    );
    false
}

/// Checks an optional absolute http(s) URL of at most 2048 characters.
pub fn http_url(violations: &mut Violations, field: &str, value: &str) -> String {
    let value = value.trim();
    if value.is_empty() {
        return String::new();
    }
    // The URL parser would drop or escape control characters, but the text
    // is stored as given.
    if !plain(violations, field, value, Lines::Single) {
        return value.to_owned();
    }
    if value.len() > 2048 {
        violations.add(field, "must be at most 2048 characters");
        return value.to_owned();
    }
    match url::Url::parse(value) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => {}
        Ok(_) => violations.add(field, "must be an http or https URL with a host"),
        Err(error) => violations.add(
            field,
            format!(
                "must be an absolute http or https URL such as https://example.com/acme ({error})"
            ),
        ),
    }
    value.to_owned()
}

/// Checks a proto enum number: it must be one of the enum's values and, when
/// `required`, not `*_UNSPECIFIED`. Returns `None` for unspecified or bad.
pub fn enum_value<E: ProtoEnum>(
    violations: &mut Violations,
    field: &str,
    number: i32,
    required: bool,
) -> Option<E> {
    if number == 0 {
        if required {
            violations.add(
                field,
                format!("is required: one of {}", allowed_names::<E>()),
            );
        }
        return None;
    }
    let value = E::from_number(number);
    if value.is_none() {
        violations.add(
            field,
            format!(
                "{number} is not a known value: use one of {}",
                allowed_names::<E>()
            ),
        );
    }
    value
}

/// The proto names of an enum's values, comma separated, for messages.
pub fn allowed_names<E: ProtoEnum>() -> String {
    E::specified_values()
        .iter()
        .map(|value| value.proto_name())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::account::Network;

    fn violations_of(check: impl FnOnce(&mut Violations)) -> Vec<String> {
        let mut violations = Violations::default();
        check(&mut violations);
        match violations.finish(()) {
            Ok(()) => vec![],
            Err(crate::error::ApiError::InvalidArgument(found)) => {
                found.into_iter().map(|v| v.description).collect()
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn text_checks() {
        let cases: [(&str, &str, bool, Lines, bool); 8] = [
            ("trimmed value passes", "  acme ", true, Lines::Single, true),
            ("blank required fails", "   ", true, Lines::Single, false),
            ("blank optional passes", "", false, Lines::Single, true),
            ("too long fails", "abcdefghijk", true, Lines::Single, false),
            (
                "newline in single line fails",
                "a\nb",
                true,
                Lines::Single,
                false,
            ),
            (
                "newline in multi line passes",
                "a\nb",
                true,
                Lines::Multi,
                true,
            ),
            (
                "escape char fails everywhere",
                "a\u{1b}b",
                true,
                Lines::Multi,
                false,
            ),
            ("nul fails everywhere", "a\0b", true, Lines::Multi, false),
        ];
        for (description, value, required, lines, ok) in cases {
            let found = violations_of(|v| {
                text(v, "f", value, 10, required, lines);
            });
            assert_eq!(found.is_empty(), ok, "{description}: {found:?}");
        }
    }

    #[test]
    fn url_checks() {
        let cases = [
            ("https passes", "https://instagram.com/acme", true),
            ("empty passes", "", true),
            ("not a url fails", "not a url", false),
            ("ftp fails", "ftp://example.com/x", false),
            ("mailto fails", "mailto:a@b.c", false),
            ("nul in the path fails", "https://x.com/a\0b", false),
            ("trailing nul fails", "https://x.com/a\0", false),
        ];
        for (description, value, ok) in cases {
            let found = violations_of(|v| {
                http_url(v, "f", value);
            });
            assert_eq!(found.is_empty(), ok, "{description}: {found:?}");
        }
    }

    #[test]
    fn value_checks() {
        let above = f64::from_bits(MAX_VALUE_MAGNITUDE.to_bits() + 1);
        let cases = [
            ("zero passes", 0.0, true),
            ("the bound passes", MAX_VALUE_MAGNITUDE, true),
            ("minus the bound passes", -MAX_VALUE_MAGNITUDE, true),
            ("just above fails", above, false),
            ("just below minus fails", -above, false),
            ("1e308 fails", 1e308, false),
            ("nan fails", f64::NAN, false),
            ("infinity fails", f64::NEG_INFINITY, false),
        ];
        for (description, value, ok) in cases {
            let found = violations_of(|v| {
                bounded_value(v, || "f".into(), value);
            });
            assert_eq!(found.is_empty(), ok, "{description}: {found:?}");
        }
    }

    #[test]
    fn enum_checks() {
        assert!(
            violations_of(|v| {
                enum_value::<Network>(v, "f", 2, true);
            })
            .is_empty()
        );
        let unknown = violations_of(|v| {
            enum_value::<Network>(v, "f", 42, true);
        });
        assert!(unknown[0].contains("NETWORK_INSTAGRAM"), "{unknown:?}");
        assert_eq!(
            violations_of(|v| {
                enum_value::<Network>(v, "f", 0, true);
            })
            .len(),
            1
        );
        assert!(
            violations_of(|v| {
                enum_value::<Network>(v, "f", 0, false);
            })
            .is_empty()
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;
        use crate::api::fuzzing::{
            around, assert_only_field_violations, enum_number, hostile_f64, hostile_text,
        };

        fn lines() -> impl Strategy<Value = Lines> {
            prop::sample::select(vec![Lines::Single, Lines::Multi])
        }

        fn url() -> impl Strategy<Value = String> {
            around(
                prop::sample::select(vec![
                    "https://instagram.com/acme",
                    "http://x.com/a?b=c#d",
                    "https://[::1]:8080/",
                    "https://xn--bcher-kva.example/",
                ])
                .prop_map(str::to_owned),
            )
        }

        proptest! {
            #[test]
            fn accepted_text_is_trimmed_bounded_and_free_of_control_characters(
                value in hostile_text(),
                max_chars in 0usize..300,
                required in any::<bool>(),
                lines in lines(),
            ) {
                let mut violations = Violations::default();
                let cleaned = text(&mut violations, "f", &value, max_chars, required, lines);
                prop_assert_eq!(cleaned.as_str(), value.trim());
                if violations.is_empty() {
                    prop_assert!(!cleaned.contains('\0'));
                    prop_assert!(cleaned.chars().count() <= max_chars);
                    prop_assert!(!required || !cleaned.is_empty());
                    prop_assert!(cleaned.chars().all(|c| !c.is_control()
                        || (lines == Lines::Multi && matches!(c, '\n' | '\r' | '\t'))));
                }
                assert_only_field_violations(violations, |field| field == "f");
            }

            #[test]
            fn accepted_urls_are_absolute_http_urls_of_plain_text(value in url()) {
                let mut violations = Violations::default();
                let cleaned = http_url(&mut violations, "f", &value);
                if violations.is_empty() && !cleaned.is_empty() {
                    prop_assert!(!cleaned.chars().any(char::is_control));
                    let parsed = url::Url::parse(&cleaned).expect("an accepted URL parses");
                    prop_assert!(matches!(parsed.scheme(), "http" | "https") && parsed.has_host());
                }
                assert_only_field_violations(violations, |field| field == "f");
            }

            #[test]
            fn values_pass_exactly_when_finite_and_within_the_bound(value in hostile_f64()) {
                let mut violations = Violations::default();
                let passed = bounded_value(&mut violations, || "f".into(), value);
                prop_assert_eq!(passed, value.is_finite() && value.abs() <= MAX_VALUE_MAGNITUDE);
                prop_assert_eq!(passed, violations.is_empty());
                assert_only_field_violations(violations, |field| field == "f");
            }

            #[test]
            fn enum_numbers_are_known_values_or_violations(
                number in enum_number(12),
                required in any::<bool>(),
            ) {
                let mut violations = Violations::default();
                let value = enum_value::<Network>(&mut violations, "f", number, required);
                prop_assert_eq!(value.map(|network| network as i32), (number != 0)
                    .then(|| Network::try_from(number).ok())
                    .flatten()
                    .map(|network| network as i32));
                prop_assert_eq!(violations.is_empty(), value.is_some() || (number == 0 && !required));
                assert_only_field_violations(violations, |field| field == "f");
            }
        }
    }
}
