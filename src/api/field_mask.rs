//! AIP-134 update masks: which fields of a resource an update changes.

use prost_types::FieldMask;

use crate::error::{ApiError, Violations};

/// Resolves the paths an update touches, from the request's mask.
///
/// - paths must be among `updatable`; unknown or output-only paths are
///   violations of `update_mask.paths[i]`;
/// - `*` alone means every updatable field;
/// - an absent or empty mask means every field the request sets to a
///   non-default value (`is_populated`), as AIP-134 allows.
pub fn resolve(
    mask: Option<&FieldMask>,
    updatable: &[&'static str],
    is_populated: impl Fn(&str) -> bool,
) -> Result<Vec<&'static str>, ApiError> {
    resolve_ignoring(mask, updatable, &[], is_populated)
}

/// [`resolve`] for resources whose contract ignores the `ignored` paths
/// (their output-only fields) rather than refusing them.
pub fn resolve_ignoring(
    mask: Option<&FieldMask>,
    updatable: &[&'static str],
    ignored: &[&str],
    is_populated: impl Fn(&str) -> bool,
) -> Result<Vec<&'static str>, ApiError> {
    let paths = mask.map(|mask| mask.paths.as_slice()).unwrap_or_default();
    if paths.is_empty() {
        return Ok(updatable
            .iter()
            .copied()
            .filter(|path| is_populated(path))
            .collect());
    }
    if paths.len() == 1 && paths[0] == "*" {
        return Ok(updatable.to_vec());
    }
    let mut violations = Violations::default();
    let mut resolved = Vec::new();
    for (index, path) in paths.iter().enumerate() {
        match updatable.iter().find(|known| **known == path) {
            Some(known) if !resolved.contains(known) => resolved.push(*known),
            Some(_) => {}
            None if ignored.contains(&path.as_str()) => {}
            None => violations.add(
                format!("update_mask.paths[{index}]"),
                format!(
                    "{path:?} is not an updatable field; use * or any of {}",
                    updatable.join(", ")
                ),
            ),
        }
    }
    violations.finish(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &[&str] = &["handle", "owner", "status"];

    fn mask(paths: &[&str]) -> FieldMask {
        FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn explicit_paths_are_kept_once_in_order() {
        let resolved = resolve(Some(&mask(&["owner", "handle", "owner"])), FIELDS, |_| {
            false
        })
        .unwrap();
        assert_eq!(resolved, ["owner", "handle"]);
    }

    #[test]
    fn star_means_everything_and_absent_means_populated() {
        assert_eq!(
            resolve(Some(&mask(&["*"])), FIELDS, |_| false).unwrap(),
            FIELDS
        );
        assert_eq!(
            resolve(None, FIELDS, |p| p == "status").unwrap(),
            ["status"]
        );
        assert_eq!(
            resolve(Some(&mask(&[])), FIELDS, |p| p == "owner").unwrap(),
            ["owner"]
        );
    }

    #[test]
    fn ignored_paths_are_skipped_without_shifting_the_indices_of_others() {
        let ApiError::InvalidArgument(violations) = resolve_ignoring(
            Some(&mask(&["etag", "owner", "colour"])),
            FIELDS,
            &["etag"],
            |_| false,
        )
        .unwrap_err() else {
            panic!("expected INVALID_ARGUMENT");
        };
        assert_eq!(violations[0].field, "update_mask.paths[2]");
        let resolved = resolve_ignoring(Some(&mask(&["etag", "owner"])), FIELDS, &["etag"], |_| {
            false
        })
        .unwrap();
        assert_eq!(resolved, ["owner"]);
    }

    #[test]
    fn unknown_paths_are_each_reported() {
        let ApiError::InvalidArgument(violations) =
            resolve(Some(&mask(&["owner", "name", "colour"])), FIELDS, |_| false).unwrap_err()
        else {
            panic!("expected INVALID_ARGUMENT");
        };
        let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["update_mask.paths[1]", "update_mask.paths[2]"]);
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;
        use crate::api::fuzzing::around;

        fn path() -> impl Strategy<Value = String> {
            around(
                prop::sample::select(vec!["handle", "owner", "status", "*", "etag", "name"])
                    .prop_map(str::to_owned),
            )
        }

        proptest! {
            #[test]
            fn masks_resolve_to_updatable_fields_or_name_each_bad_path(
                paths in prop::collection::vec(path(), 0..6),
                populated in any::<[bool; 3]>(),
            ) {
                let is_populated = |path: &str| {
                    FIELDS.iter().position(|field| *field == path).is_some_and(|i| populated[i])
                };
                let count = paths.len();
                match resolve_ignoring(Some(&FieldMask { paths }), FIELDS, &["etag"], is_populated) {
                    Ok(resolved) => {
                        prop_assert!(resolved.iter().all(|path| FIELDS.contains(path)));
                        let mut unique = resolved.clone();
                        unique.sort_unstable();
                        unique.dedup();
                        prop_assert_eq!(unique.len(), resolved.len());
                    }
                    Err(error) => crate::api::fuzzing::assert_invalid(error, |field| {
                        field
                            .strip_prefix("update_mask.paths[")
                            .and_then(|rest| rest.strip_suffix(']'))
                            .and_then(|index| index.parse::<usize>().ok())
                            .is_some_and(|index| index < count)
                    }),
                }
            }
        }
    }
}
