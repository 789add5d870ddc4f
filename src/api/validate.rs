//! Field checks shared by every resource. Each records its findings in a
//! [`Violations`] collector and returns the cleaned value, so a handler can
//! check every field before failing.

use crate::api::enums::ProtoEnum;
use crate::error::Violations;

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
    let allowed = |c: char| lines == Lines::Multi && matches!(c, '\n' | '\r' | '\t');
    if trimmed.chars().any(|c| c.is_control() && !allowed(c)) {
        violations.add(field, "must not contain control characters");
    }
    trimmed.to_owned()
}

/// Checks an optional absolute http(s) URL of at most 2048 characters.
pub fn http_url(violations: &mut Violations, field: &str, value: &str) -> String {
    let value = value.trim();
    if value.is_empty() {
        return String::new();
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
        let cases: [(&str, &str, bool, Lines, bool); 7] = [
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
        ];
        for (description, value, ok) in cases {
            let found = violations_of(|v| {
                http_url(v, "f", value);
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
}
