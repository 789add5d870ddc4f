//! Property tests of resource names: a name built from ids parses back to
//! them, and any other text either is exactly such a name or is an
//! INVALID_ARGUMENT on the field it was sent in.

use proptest::prelude::*;

use super::*;
use crate::api::fuzzing::{around, assert_invalid};

const TOP_LEVEL: [Collection; 3] = [ACCOUNTS, AUDITS, GOALS];

fn uuid() -> impl Strategy<Value = Uuid> {
    any::<u128>().prop_map(Uuid::from_u128)
}

/// Names of every collection, well-formed or nearly so.
fn name_like() -> impl Strategy<Value = String> {
    let valid =
        prop_oneof![
            (prop::sample::select(TOP_LEVEL.to_vec()), uuid())
                .prop_map(|(collection, id)| collection.name(id)),
            (uuid(), uuid()).prop_map(|(goal, key_result)| KEY_RESULTS.name(goal, key_result)),
            // Other spellings of a valid id, which must not name it too.
            (prop::sample::select(TOP_LEVEL.to_vec()), uuid()).prop_map(|(collection, id)| {
                format!(
                    "{}/{}",
                    collection.segment,
                    id.hyphenated().to_string().to_uppercase()
                )
            }),
            (prop::sample::select(TOP_LEVEL.to_vec()), uuid())
                .prop_map(|(collection, id)| format!("{}/{}", collection.segment, id.simple())),
            (prop::sample::select(TOP_LEVEL.to_vec()), uuid())
                .prop_map(|(collection, id)| format!("{}/{}", collection.segment, id.urn())),
            (prop::sample::select(TOP_LEVEL.to_vec()), uuid())
                .prop_map(|(collection, id)| format!("{}/{}", collection.segment, id.braced())),
        ];
    around(valid)
}

proptest! {
    #[test]
    fn names_built_from_ids_parse_back_to_them(id in uuid(), child in uuid()) {
        for collection in TOP_LEVEL {
            prop_assert_eq!(collection.parse("name", &collection.name(id)).ok(), Some(id));
        }
        prop_assert_eq!(
            KEY_RESULTS.parse("name", &KEY_RESULTS.name(id, child)).ok(),
            Some((id, child))
        );
    }

    #[test]
    fn any_text_is_the_canonical_name_or_a_violation_of_its_field(text in name_like()) {
        for collection in TOP_LEVEL {
            match collection.parse("goal.parent", &text) {
                // One resource answers to one name only.
                Ok(id) => prop_assert_eq!(collection.name(id), text.clone()),
                Err(error) => assert_invalid(error, |field| field == "goal.parent"),
            }
            prop_assert_eq!(
                collection.id_of(&text),
                collection.parse("f", &text).ok()
            );
        }
        match KEY_RESULTS.parse("key_result.name", &text) {
            Ok((goal, key_result)) => {
                prop_assert_eq!(KEY_RESULTS.name(goal, key_result), text.clone());
            }
            Err(error) => assert_invalid(error, |field| field == "key_result.name"),
        }
    }
}
