//! Deterministic hashes: the seeds of the demo's noise and the `request_id`s
//! of its creates. FNV-1a is written out here because its output is fixed by
//! its definition, where std's hashers may change between Rust releases and
//! would then change every demo value.

use uuid::{Builder, Uuid};

const FNV64_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV64_PRIME: u64 = 0x0000_0100_0000_01b3;
const FNV128_OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
const FNV128_PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;

/// A byte no part contains, so that ("ab", "c") and ("a", "bc") differ.
const SEPARATOR: u8 = 0xff;

/// The 64-bit FNV-1a hash of `parts`, separated.
pub fn fnv1a_64(parts: &[&[u8]]) -> u64 {
    let mut hash = FNV64_OFFSET;
    for byte in separated(parts) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(FNV64_PRIME);
    }
    hash
}

/// The 128-bit FNV-1a hash of `parts`, separated.
fn fnv1a_128(parts: &[&[u8]]) -> u128 {
    let mut hash = FNV128_OFFSET;
    for byte in separated(parts) {
        hash ^= u128::from(byte);
        hash = hash.wrapping_mul(FNV128_PRIME);
    }
    hash
}

fn separated<'a>(parts: &'a [&'a [u8]]) -> impl Iterator<Item = u8> + 'a {
    parts
        .iter()
        .flat_map(|part| part.iter().copied().chain([SEPARATOR]))
}

/// A request id (a version 8 UUID) that is the same whenever `parts` are:
/// a rerun sends the same id for the same create, so a create that reached
/// the server before a crash is answered with its first result.
pub fn request_id(parts: &[&str]) -> String {
    let bytes: Vec<&[u8]> = std::iter::once(b"goalpost-demo".as_slice())
        .chain(parts.iter().map(|part| part.as_bytes()))
        .collect();
    let id: Uuid = Builder::from_custom_bytes(fnv1a_128(&bytes).to_be_bytes()).into_uuid();
    id.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_its_published_test_vectors() {
        // The FNV reference vectors hash the bare bytes; the separator is
        // added after every part, so compare with it appended.
        let offset_of_a = fnv1a_64(&[b"a"]);
        let mut expected = FNV64_OFFSET;
        for byte in [b'a', SEPARATOR] {
            expected = (expected ^ u64::from(byte)).wrapping_mul(FNV64_PRIME);
        }
        assert_eq!(offset_of_a, expected);
        // "a" alone: 0xaf63dc4c8601ec8c in the reference tables.
        let bare = (FNV64_OFFSET ^ u64::from(b'a')).wrapping_mul(FNV64_PRIME);
        assert_eq!(bare, 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn request_ids_are_stable_uuids_that_tell_parts_apart() {
        let first = request_id(&["goal", "Cut bounces"]);
        assert_eq!(first, request_id(&["goal", "Cut bounces"]));
        assert_ne!(first, request_id(&["goalC", "ut bounces"]));
        let parsed = Uuid::try_parse(&first).expect("a UUID");
        assert_eq!(parsed.get_version_num(), 8);
    }
}
