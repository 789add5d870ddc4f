//! Input generators for property tests, near the valid grammar and hostile
//! to it (see the parent module). Plain proptest and std only: the gRPC
//! integration tests include this file too, so it names nothing of the
//! crate.

use proptest::prelude::*;
use proptest::sample::Index;

/// Fragments with a meaning to the filter grammar, resource names, JSON page
/// tokens, SQL or text handling.
const PIECES: &[&str] = &[
    "\0",
    "\u{1}",
    "\u{1b}",
    "\u{7f}",
    "\u{85}",
    "\n",
    "\r\n",
    "\t",
    " ",
    "\u{a0}",
    "\u{2028}",
    "\u{200b}",
    "\u{202e}",
    "\u{feff}",
    "\u{fffd}",
    "\u{10ffff}",
    "é",
    "İ",
    "🎯",
    "\"",
    "\\",
    "\\\"",
    "\\\\",
    "'",
    "''",
    ";",
    "--",
    "/*",
    "$1",
    "%",
    "_",
    "/",
    "=",
    "!=",
    "<=",
    ">",
    "!",
    " AND ",
    " OR ",
    "NOT ",
    "(",
    ")",
    ":",
    "~",
    "*",
    ",",
    "-",
    "+",
    "0",
    "-0",
    "1e308",
    "NaN",
    "null",
    "true",
    "{",
    "}",
    "[",
    "]",
    "accounts/",
    "goals/",
    "/keyResults/",
    "metrics/",
    "00000000-0000-0000-0000-000000000000",
    "0190a4b2-7c3e-7f00-8000-00000000000A",
    "2026-01-31T00:00:00Z",
    "0000-01-01T00:00:00+23:59",
    "9999-12-31T23:59:60-23:59",
];

/// One fragment of [`PIECES`].
pub fn piece() -> impl Strategy<Value = String> {
    prop::sample::select(PIECES).prop_map(str::to_owned)
}

/// Arbitrary text: any unicode (control characters included), runs of
/// fragments and characters, and now and then a long repetition.
pub fn hostile_text() -> BoxedStrategy<String> {
    let fragment = prop_oneof![piece(), any::<char>().prop_map(String::from)];
    prop_oneof![
        3 => any::<String>(),
        4 => prop::collection::vec(fragment, 0..12).prop_map(|parts| parts.concat()),
        1 => (piece(), 1..3000usize).prop_map(|(part, times)| part.repeat(times)),
    ]
    .boxed()
}

/// One edit of a text, at a position chosen relative to its length.
#[derive(Debug, Clone)]
enum Edit {
    Insert(Index, String),
    Delete(Index, usize),
    Replace(Index, String),
    Truncate(Index),
    Duplicate(Index, usize),
    FlipCase(Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    let text = prop_oneof![3 => piece(), 1 => any::<char>().prop_map(String::from)];
    prop_oneof![
        3 => (any::<Index>(), text.clone()).prop_map(|(at, text)| Edit::Insert(at, text)),
        2 => (any::<Index>(), 1..4usize).prop_map(|(at, count)| Edit::Delete(at, count)),
        2 => (any::<Index>(), text).prop_map(|(at, text)| Edit::Replace(at, text)),
        1 => any::<Index>().prop_map(Edit::Truncate),
        1 => (any::<Index>(), 1..8usize).prop_map(|(at, count)| Edit::Duplicate(at, count)),
        1 => any::<Index>().prop_map(Edit::FlipCase),
    ]
}

fn apply(text: &str, edit: &Edit) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    // Positions run over the gaps between characters, both ends included.
    let at = |index: &Index| index.index(chars.len() + 1);
    match edit {
        Edit::Insert(index, inserted) => {
            let at = at(index);
            chars.splice(at..at, inserted.chars());
        }
        Edit::Delete(index, count) => {
            let at = at(index).min(chars.len());
            let end = (at + count).min(chars.len());
            chars.drain(at..end);
        }
        Edit::Replace(index, replacement) => {
            let at = at(index).min(chars.len());
            let end = (at + 1).min(chars.len());
            chars.splice(at..end, replacement.chars());
        }
        Edit::Truncate(index) => chars.truncate(at(index)),
        Edit::Duplicate(index, count) => {
            let at = at(index).min(chars.len());
            let end = (at + count).min(chars.len());
            let copy: Vec<char> = chars[at..end].to_vec();
            chars.splice(end..end, copy);
        }
        Edit::FlipCase(index) => {
            let at = at(index).min(chars.len());
            if let Some(c) = chars.get_mut(at) {
                *c = if c.is_uppercase() {
                    c.to_lowercase().next().unwrap_or(*c)
                } else {
                    c.to_uppercase().next().unwrap_or(*c)
                };
            }
        }
    }
    chars.into_iter().collect()
}

/// Texts from `valid` with one to three edits.
pub fn mutated(valid: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    (valid, prop::collection::vec(edit(), 1..4))
        .prop_map(|(text, edits)| edits.iter().fold(text, |text, edit| apply(&text, edit)))
}

/// Valid texts, their mutations and hostile text, in about equal parts: what
/// a field that takes `valid` should be fed.
pub fn around(valid: impl Strategy<Value = String> + 'static) -> BoxedStrategy<String> {
    let valid = valid.boxed();
    prop_oneof![valid.clone(), mutated(valid), hostile_text()].boxed()
}

/// Numbers that break arithmetic or storage, and ordinary ones.
pub fn hostile_f64() -> BoxedStrategy<f64> {
    prop_oneof![
        prop::sample::select(vec![
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            f64::MIN_POSITIVE,
            f64::EPSILON,
            1e-320,
            1e15,
            -1e15,
            1e15 + 0.125,
            1e308,
            -1e308,
            f64::MAX,
            f64::MIN,
            1.0,
            -100.0,
            100.0,
        ]),
        any::<f64>(),
        -1e6..1e6f64,
    ]
    .boxed()
}

/// Protobuf timestamps: in range, at the edges of the years 0001-9999, and
/// arbitrary (negative or overlarge nanos, seconds far beyond any calendar).
pub fn hostile_timestamp() -> BoxedStrategy<prost_types::Timestamp> {
    // 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
    const FIRST: i64 = -62_135_596_800;
    const LAST: i64 = 253_402_300_799;
    let seconds = prop_oneof![
        0i64..4_000_000_000,
        prop::sample::select(vec![
            FIRST - 1,
            FIRST,
            LAST,
            LAST + 1,
            -1,
            0,
            i64::MIN,
            i64::MAX
        ]),
        any::<i64>(),
    ];
    let nanos = prop_oneof![
        0i32..1_000_000_000,
        prop::sample::select(vec![-1, 999_999_999, 1_000_000_000, i32::MIN, i32::MAX]),
    ];
    (seconds, nanos)
        .prop_map(|(seconds, nanos)| prost_types::Timestamp { seconds, nanos })
        .boxed()
}

/// Enum numbers: mostly in the enum's range `0..=last`, sometimes anything.
pub fn enum_number(last: i32) -> BoxedStrategy<i32> {
    prop_oneof![3 => 0..=last, 1 => any::<i32>()].boxed()
}

/// Texts near one of `valid`: as given, edited, or replaced by hostile text.
pub fn text_near(valid: &'static [&'static str]) -> BoxedStrategy<String> {
    around(prop::sample::select(valid).prop_map(str::to_owned))
}

/// `Some` value of `strategy` about one time in six: for replacing a few
/// fields of an otherwise valid request, so that checks further along are
/// reached too.
pub fn sometimes<T: std::fmt::Debug>(
    strategy: impl Strategy<Value = T>,
) -> impl Strategy<Value = Option<T>> {
    prop::option::weighted(1.0 / 6.0, strategy)
}
