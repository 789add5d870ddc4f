//! Keeping error statuses small. A status travels in HTTP/2 headers, which
//! clients cap (often at 8 or 16 KiB) and which h2 refuses to spread over
//! too many frames: an oversized one can make the client drop its whole
//! connection, failing every other call on it. So an error lists at most
//! [`MAX_LISTED_VIOLATIONS`] field violations (the rest are counted) and
//! every text that may echo a caller's input is shortened.

use super::FieldViolation;

/// The most field violations one error lists; a batch of 10,000 bad rows
/// reports the first ones, which are enough to see what is wrong.
pub(super) const MAX_LISTED_VIOLATIONS: usize = 20;

/// The longest field path an error repeats, in characters.
const MAX_FIELD_CHARS: usize = 100;

/// The longest description, resource name or metadata value, in characters.
pub(super) const MAX_TEXT_CHARS: usize = 300;

/// The longest status message, in characters.
pub(super) const MAX_MESSAGE_CHARS: usize = 1_000;

/// `text` cut to at most `max` characters, marked with an ellipsis when cut.
pub(super) fn clamp(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((cut, _)) => {
            let keep = text[..cut]
                .char_indices()
                .nth(max.saturating_sub(1))
                .map_or(cut, |(index, _)| index);
            format!("{}…", &text[..keep])
        }
    }
}

/// The violations an error lists, shortened, and how many it leaves out.
pub(super) fn listed(violations: &[FieldViolation]) -> (Vec<FieldViolation>, usize) {
    let shown = violations
        .iter()
        .take(MAX_LISTED_VIOLATIONS)
        .map(|violation| FieldViolation {
            field: clamp(&violation.field, MAX_FIELD_CHARS),
            description: clamp(&violation.description, MAX_TEXT_CHARS),
        })
        .collect();
    (
        shown,
        violations.len().saturating_sub(MAX_LISTED_VIOLATIONS),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        assert_eq!(clamp("short", 10), "short");
        assert_eq!(clamp("abcdef", 4), "abc…");
        assert_eq!(clamp("ééééé", 3), "éé…");
        assert_eq!(clamp(&"x".repeat(5_000), 200).chars().count(), 200);
    }

    #[test]
    fn only_the_first_violations_are_listed() {
        let many: Vec<FieldViolation> = (0..10_000)
            .map(|row| FieldViolation {
                field: format!("observations[{row}].value"),
                description: "d".repeat(1_000),
            })
            .collect();
        let (shown, left_out) = listed(&many);
        assert_eq!(shown.len(), MAX_LISTED_VIOLATIONS);
        assert_eq!(left_out, 10_000 - MAX_LISTED_VIOLATIONS);
        assert_eq!(shown[0].field, "observations[0].value");
        assert!(shown[0].description.chars().count() <= MAX_TEXT_CHARS);
    }
}
