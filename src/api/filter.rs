//! The AIP-160 subset that list methods accept: comparisons `field OP value`
//! joined by `AND`, with OP one of `=`, `!=`, `<`, `<=`, `>`, `>=`. Values are
//! double-quoted strings or bare words (enum names, numbers). Each list method
//! declares the fields it filters on; a filter compiles to SQL conditions with
//! bound parameters, never to spliced text.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use crate::api::enums::ProtoEnum;
use crate::api::names::Collection;
use crate::error::ApiError;

#[cfg(test)]
mod properties;
mod syntax;

pub use syntax::{Comparison, Literal, Op, parse};

/// What the subset supports, appended to every parse error.
const SUPPORTED: &str = "supported: comparisons `field OP value` joined by AND, with OP one of = != < <= > >=, strings in double quotes";

/// How a filterable field's values are read.
#[derive(Debug, Clone)]
pub enum FieldKind {
    /// Free text, compared exactly.
    Text,
    /// An identifier such as a metric key: text, `=` and `!=` only.
    Key,
    /// A proto enum stored by its unprefixed name; `=` and `!=` only. The
    /// prefix and the allowed stored names.
    Enum {
        /// The value prefix, such as `NETWORK_`.
        prefix: &'static str,
        /// The stored names, such as `INSTAGRAM`.
        values: Vec<&'static str>,
    },
    /// An RFC 3339 time.
    Timestamp,
    /// A reference to a resource by name; `=` and `!=` only.
    Reference(Collection),
    /// A reference that may be empty (`""` matches a null column); `=` and
    /// `!=` only.
    OptionalReference(Collection),
    /// `true` or `false`; `=` and `!=` only.
    Bool,
}

impl FieldKind {
    /// Whether the field only takes `=` and `!=`: ordering is meaningful for
    /// free text and times only.
    fn equality_only(&self) -> bool {
        !matches!(self, FieldKind::Text | FieldKind::Timestamp)
    }

    /// The kind of a field holding enum `E`.
    pub fn enumeration<E: ProtoEnum>() -> Self {
        FieldKind::Enum {
            prefix: E::PREFIX,
            values: E::specified_values().into_iter().map(E::db_name).collect(),
        }
    }
}

/// A field that a list method filters on.
#[derive(Debug, Clone)]
pub struct FilterField {
    /// The name callers use.
    pub name: &'static str,
    /// The SQL column (or expression) it maps to.
    pub column: &'static str,
    /// How its values are read.
    pub kind: FieldKind,
}

/// A bound SQL value.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// Text, including stored enum names.
    Text(String),
    /// A time.
    Timestamp(DateTime<Utc>),
    /// A referenced resource id.
    Uuid(Uuid),
    /// A boolean.
    Bool(bool),
    /// No value: `=` becomes `is null`, `!=` becomes `is not null`.
    Null,
}

/// One SQL condition: `column op $n`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    column: &'static str,
    op: Op,
    value: SqlValue,
}

/// A compiled filter, ready to be appended to a query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conditions(Vec<Condition>);

impl Conditions {
    /// The conditions on columns `on` accepts, and the others: for queries
    /// that apply them at different levels.
    pub fn partition(&self, on: impl Fn(&str) -> bool) -> (Conditions, Conditions) {
        let (accepted, others) = self.0.iter().cloned().partition(|c| on(c.column));
        (Conditions(accepted), Conditions(others))
    }

    /// Appends ` and column op $n` for each condition.
    pub fn push_to(&self, query: &mut QueryBuilder<'_, Postgres>) {
        for condition in &self.0 {
            query.push(" and ").push(condition.column);
            let op = condition.op.sql();
            match &condition.value {
                SqlValue::Null if condition.op == Op::Eq => query.push(" is null"),
                SqlValue::Null => query.push(" is not null"),
                SqlValue::Text(text) => query.push(op).push_bind(text.clone()),
                SqlValue::Timestamp(time) => query.push(op).push_bind(*time),
                SqlValue::Uuid(id) => query.push(op).push_bind(*id),
                SqlValue::Bool(flag) => query.push(op).push_bind(*flag),
            };
        }
    }
}

/// Parses `filter` and checks it against `fields`. Problems are reported as
/// INVALID_ARGUMENT on the `filter` field, saying what is supported.
pub fn compile(filter: &str, fields: &[FilterField]) -> Result<Conditions, ApiError> {
    let fail =
        |problem: String| ApiError::invalid_field("filter", format!("{problem}; {SUPPORTED}"));
    let comparisons = parse(filter).map_err(fail)?;
    let mut conditions = Vec::with_capacity(comparisons.len());
    for comparison in comparisons {
        let Some(field) = fields.iter().find(|f| f.name == comparison.field) else {
            let known: Vec<&str> = fields.iter().map(|f| f.name).collect();
            return Err(fail(format!(
                "unknown field {:?}, the fields are {}",
                comparison.field,
                known.join(", ")
            )));
        };
        let value = read_value(field, &comparison).map_err(fail)?;
        conditions.push(Condition {
            column: field.column,
            op: comparison.op,
            value,
        });
    }
    Ok(Conditions(conditions))
}

fn read_value(field: &FilterField, comparison: &Comparison) -> Result<SqlValue, String> {
    let raw = comparison.value.text();
    let name = field.name;
    if field.kind.equality_only() && !comparison.op.is_equality() {
        return Err(format!("{name} supports only = and !="));
    }
    match &field.kind {
        FieldKind::Text | FieldKind::Key => Ok(SqlValue::Text(raw.to_owned())),
        FieldKind::Enum { prefix, values } => {
            let unprefixed = raw.strip_prefix(prefix).unwrap_or(raw);
            values
                .iter()
                .find(|value| **value == unprefixed)
                .map(|value| SqlValue::Text((*value).to_owned()))
                .ok_or_else(|| {
                    format!(
                        "{raw:?} is not a value of {name}, use one of {}",
                        values.join(", ")
                    )
                })
        }
        FieldKind::Timestamp => DateTime::parse_from_rfc3339(raw)
            .map(|time| SqlValue::Timestamp(time.with_timezone(&Utc)))
            .map_err(|_| {
                format!(
                    "{name} needs an RFC 3339 time such as \"2026-01-31T00:00:00Z\", got {raw:?}"
                )
            }),
        FieldKind::OptionalReference(_) if raw.is_empty() => Ok(SqlValue::Null),
        FieldKind::Bool => match raw {
            "true" => Ok(SqlValue::Bool(true)),
            "false" => Ok(SqlValue::Bool(false)),
            _ => Err(format!("{name} is true or false, got {raw:?}")),
        },
        FieldKind::Reference(collection) | FieldKind::OptionalReference(collection) => collection
            .parse(name, raw)
            .map(SqlValue::Uuid)
            .map_err(|_| {
                format!(
                    "{name} needs a name of the form {}, got {raw:?}",
                    collection.pattern
                )
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::names::ACCOUNTS;
    use crate::pb::account::Network;

    fn fields() -> Vec<FilterField> {
        vec![
            FilterField {
                name: "network",
                column: "network",
                kind: FieldKind::enumeration::<Network>(),
            },
            FilterField {
                name: "owner",
                column: "owner",
                kind: FieldKind::Text,
            },
            FilterField {
                name: "create_time",
                column: "create_time",
                kind: FieldKind::Timestamp,
            },
            FilterField {
                name: "account",
                column: "account_id",
                kind: FieldKind::Reference(ACCOUNTS),
            },
        ]
    }

    #[test]
    fn compiles_values_by_field_kind() {
        let compiled = compile(
            r#"network = NETWORK_INSTAGRAM AND owner = "a" AND create_time < "2026-01-01T00:00:00+02:00""#,
            &fields(),
        )
        .unwrap();
        assert_eq!(compiled.0.len(), 3);
        assert_eq!(compiled.0[0].value, SqlValue::Text("INSTAGRAM".into()));
        assert_eq!(
            compiled.0[2].value,
            SqlValue::Timestamp("2025-12-31T22:00:00Z".parse().unwrap())
        );
    }

    #[test]
    fn compile_errors_name_the_problem_and_the_subset() {
        let cases = [
            ("unknown field", "colour = RED", "unknown field"),
            (
                "unknown enum value",
                "network = MYSPACE",
                "not a value of network",
            ),
            ("ordering an enum", "network < X", "only = and !="),
            ("bad time", "create_time > \"yesterday\"", "RFC 3339"),
            (
                "bad reference",
                "account = \"accounts/nope\"",
                "accounts/{account}",
            ),
        ];
        for (description, filter, expected) in cases {
            let ApiError::InvalidArgument(violations) = compile(filter, &fields()).unwrap_err()
            else {
                panic!("{description}: expected INVALID_ARGUMENT");
            };
            assert_eq!(violations[0].field, "filter");
            assert!(
                violations[0].description.contains(expected),
                "{description}: {}",
                violations[0].description
            );
            assert!(
                violations[0].description.contains("supported:"),
                "{description}"
            );
        }
    }
}
