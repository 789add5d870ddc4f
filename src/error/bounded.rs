//! Keeping error statuses small. A status travels in HTTP/2 headers, which
//! clients cap (often at 8 or 16 KiB) and which h2 refuses to spread over
//! too many frames: an oversized one can make the client drop its whole
//! connection, failing every other call on it. So an error lists at most
//! [`MAX_LISTED_VIOLATIONS`] field violations (the rest are counted) and
//! every text that may echo a caller's input is shortened. Lengths are in
//! bytes of UTF-8, not characters: a character takes up to four bytes, and
//! the message is percent-encoded and the details base64-encoded on the
//! wire, so a limit in characters let wide text through at four times the
//! size (a tonic client then reported a protocol error, not the status).

use super::FieldViolation;

/// The most field violations one error lists; a batch of 10,000 bad rows
/// reports the first ones, which are enough to see what is wrong.
pub(super) const MAX_LISTED_VIOLATIONS: usize = 20;

/// The longest field path an error repeats, in bytes.
const MAX_FIELD_BYTES: usize = 100;

/// The longest description, resource name or metadata value, in bytes.
pub(super) const MAX_TEXT_BYTES: usize = 300;

/// The longest status message, in bytes.
pub(super) const MAX_MESSAGE_BYTES: usize = 1_000;

/// What marks a shortened text.
const ELLIPSIS: char = '…';

/// `text` cut on a character boundary to at most `max` bytes, the ellipsis
/// that marks the cut included.
pub(super) fn clamp(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut cut = max.saturating_sub(ELLIPSIS.len_utf8());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{ELLIPSIS}", &text[..cut])
}

/// The violations an error lists, shortened, and how many it leaves out.
pub(super) fn listed(violations: &[FieldViolation]) -> (Vec<FieldViolation>, usize) {
    let shown = violations
        .iter()
        .take(MAX_LISTED_VIOLATIONS)
        .map(|violation| FieldViolation {
            field: clamp(&violation.field, MAX_FIELD_BYTES),
            description: clamp(&violation.description, MAX_TEXT_BYTES),
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
    fn long_text_is_cut_on_a_character_boundary_within_its_bytes() {
        assert_eq!(clamp("short", 5), "short");
        assert_eq!(clamp("abcdefg", 6), "abc…");
        // 'é' takes two bytes: the cut falls before the one it would split.
        assert_eq!(clamp("ééééé", 8), "éé…");
        assert_eq!(clamp("ééééé", 7), "éé…");
        assert_eq!(clamp(&"x".repeat(5_000), 200).len(), 200);
        assert_eq!(clamp(&"🎯".repeat(5_000), 200).len(), 199);
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
        assert!(shown[0].description.len() <= MAX_TEXT_BYTES);
    }
}
