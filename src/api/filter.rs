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

/// The longest filter accepted, in bytes.
const MAX_FILTER_LEN: usize = 2000;

/// What the subset supports, appended to every parse error.
const SUPPORTED: &str = "supported: comparisons `field OP value` joined by AND, with OP one of = != < <= > >=, strings in double quotes";

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Op {
    fn sql(self) -> &'static str {
        match self {
            Op::Eq => " = ",
            // Null-safe, so `account != "accounts/…"` keeps the rows whose
            // account is null (the organisation-wide series).
            Op::Ne => " is distinct from ",
            Op::Lt => " < ",
            Op::Le => " <= ",
            Op::Gt => " > ",
            Op::Ge => " >= ",
        }
    }

    fn is_equality(self) -> bool {
        matches!(self, Op::Eq | Op::Ne)
    }
}

/// A literal as written in the filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    /// A double-quoted string, unescaped.
    Quoted(String),
    /// A bare word such as `ACTIVE`, `42` or `true`.
    Bare(String),
}

impl Literal {
    fn text(&self) -> &str {
        match self {
            Literal::Quoted(text) | Literal::Bare(text) => text,
        }
    }
}

/// One parsed comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    /// The field name as written.
    pub field: String,
    /// The operator.
    pub op: Op,
    /// The value.
    pub value: Literal,
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Op(Op),
}

fn tokenize(filter: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = filter.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '"' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        Some((_, '"')) => break,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, escaped @ ('"' | '\\'))) => text.push(escaped),
                            _ => {
                                return Err(format!(
                                    "unsupported escape in the string at {at}: only \\\" and \\\\ are allowed"
                                ));
                            }
                        },
                        Some((_, other)) => text.push(other),
                        None => return Err(format!("the string starting at {at} is not closed")),
                    }
                }
                tokens.push(Token::Quoted(text));
            }
            '=' | '!' | '<' | '>' => {
                chars.next();
                let followed_by_eq = chars.next_if(|&(_, next)| next == '=').is_some();
                let op = match (c, followed_by_eq) {
                    ('=', false) => Op::Eq,
                    ('!', true) => Op::Ne,
                    ('<', false) => Op::Lt,
                    ('<', true) => Op::Le,
                    ('>', false) => Op::Gt,
                    ('>', true) => Op::Ge,
                    _ => return Err(format!("unknown operator at {at}")),
                };
                tokens.push(Token::Op(op));
            }
            '(' | ')' | ':' | '~' | '*' | ',' => {
                return Err(format!("{c:?} at {at} is outside the supported subset"));
            }
            _ => {
                let mut word = String::new();
                while let Some(&(_, next)) = chars.peek() {
                    if next.is_whitespace() || "=!<>\"()~:,".contains(next) {
                        break;
                    }
                    word.push(next);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

/// Parses a filter into its comparisons; empty means no restriction.
pub fn parse(filter: &str) -> Result<Vec<Comparison>, String> {
    if filter.len() > MAX_FILTER_LEN {
        return Err(format!("is longer than {MAX_FILTER_LEN} bytes"));
    }
    // No stored text holds a NUL, and PostgreSQL refuses one in a literal.
    if filter.contains('\0') {
        return Err("holds a NUL character: remove it".into());
    }
    let tokens = tokenize(filter)?;
    let mut comparisons = Vec::new();
    let mut rest = tokens.into_iter();
    loop {
        let Some(first) = rest.next() else {
            if comparisons.is_empty() {
                return Ok(comparisons);
            }
            return Err("ends with AND: a comparison must follow".into());
        };
        let field = match first {
            Token::Word(word) if is_field_name(&word) => word,
            Token::Word(word) if matches!(word.as_str(), "OR" | "NOT") => {
                return Err(format!("{word} is not supported, only AND"));
            }
            other => return Err(format!("expected a field name, found {}", describe(&other))),
        };
        let op = match rest.next() {
            Some(Token::Op(op)) => op,
            Some(other) => {
                return Err(format!(
                    "expected an operator after {field}, found {}",
                    describe(&other)
                ));
            }
            None => return Err(format!("expected an operator after {field}")),
        };
        let value = match rest.next() {
            Some(Token::Quoted(text)) => Literal::Quoted(text),
            Some(Token::Word(word)) => Literal::Bare(word),
            Some(other) => {
                return Err(format!(
                    "expected a value after {field}, found {}",
                    describe(&other)
                ));
            }
            None => return Err(format!("expected a value after {field}")),
        };
        comparisons.push(Comparison { field, op, value });
        match rest.next() {
            None => return Ok(comparisons),
            Some(Token::Word(word)) if word == "AND" => {}
            Some(other) => {
                return Err(format!(
                    "expected AND between comparisons, found {}",
                    describe(&other)
                ));
            }
        }
    }
}

fn is_field_name(word: &str) -> bool {
    let mut chars = word.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn describe(token: &Token) -> String {
    match token {
        Token::Word(word) => format!("{word:?}"),
        Token::Quoted(text) => format!("the string {text:?}"),
        Token::Op(op) => format!("the operator{}", op.sql().trim_end()),
    }
}

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
    fn parses_comparisons_joined_by_and() {
        let parsed = parse(r#"network = INSTAGRAM AND owner != "social \"team\"" AND create_time>="2026-01-01T00:00:00Z""#).unwrap();
        assert_eq!(
            parsed,
            vec![
                Comparison {
                    field: "network".into(),
                    op: Op::Eq,
                    value: Literal::Bare("INSTAGRAM".into())
                },
                Comparison {
                    field: "owner".into(),
                    op: Op::Ne,
                    value: Literal::Quoted("social \"team\"".into())
                },
                Comparison {
                    field: "create_time".into(),
                    op: Op::Ge,
                    value: Literal::Quoted("2026-01-01T00:00:00Z".into())
                },
            ]
        );
        assert_eq!(parse("   ").unwrap(), vec![]);
    }

    #[test]
    fn rejects_everything_outside_the_subset() {
        let cases = [
            ("or", "network = X OR network = FACEBOOK"),
            ("not", "NOT network = X"),
            ("parentheses", "(network = X)"),
            ("has operator", "owner:social"),
            ("trailing and", "network = X AND"),
            ("missing operator", "network X"),
            ("missing value", "network ="),
            ("unclosed string", "owner = \"abc"),
            ("two comparisons without and", "network = X owner = \"a\""),
            ("lowercase and", "network = X and owner = \"a\""),
            ("bare value as field", "\"x\" = network"),
            ("nul in a quoted literal", "owner = \"a\0\""),
            ("nul in a bare literal", "network = X\0"),
        ];
        for (description, filter) in cases {
            assert!(parse(filter).is_err(), "{description}: {filter}");
        }
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
