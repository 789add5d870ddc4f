//! Property tests of the filter language: whatever the caller writes, the
//! compiler answers with conditions or an INVALID_ARGUMENT on `filter`, and
//! the SQL it appends is fixed text with every value bound as a parameter.

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use proptest::prelude::*;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use super::*;
use crate::api::fuzzing::{around, assert_invalid, hostile_text, mutated};
use crate::api::names::{ACCOUNTS, GOALS};
use crate::pb::account::Network;

/// One field of every kind, as a list method would declare them.
fn fields() -> Vec<FilterField> {
    let field = |name, column, kind| FilterField { name, column, kind };
    vec![
        field("owner", "owner", FieldKind::Text),
        field("metric_key", "s.metric_key", FieldKind::Key),
        field("network", "network", FieldKind::enumeration::<Network>()),
        field("create_time", "create_time", FieldKind::Timestamp),
        field("account", "account_id", FieldKind::Reference(ACCOUNTS)),
        field(
            "parent",
            "parent_goal_id",
            FieldKind::OptionalReference(GOALS),
        ),
        field("builtin", "builtin", FieldKind::Bool),
    ]
}

/// A comparison as a caller would write it, with the value it must compile to.
#[derive(Debug, Clone)]
struct Written {
    text: String,
    value: SqlValue,
}

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn op() -> impl Strategy<Value = (Op, &'static str)> {
    prop::sample::select(vec![
        (Op::Eq, "="),
        (Op::Ne, "!="),
        (Op::Lt, "<"),
        (Op::Le, "<="),
        (Op::Gt, ">"),
        (Op::Ge, ">="),
    ])
}

fn equality() -> impl Strategy<Value = (Op, &'static str)> {
    prop::sample::select(vec![(Op::Eq, "="), (Op::Ne, "!=")])
}

/// Whitespace between tokens: none (where the grammar allows it), some, odd.
fn gap() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", " ", "  ", "\t", "\n ", "\u{3000}"])
}

fn uuid() -> impl Strategy<Value = Uuid> {
    any::<u128>().prop_map(Uuid::from_u128)
}

/// Any moment of the years 0001-9999, written with an offset.
fn rfc3339() -> impl Strategy<Value = (String, DateTime<Utc>)> {
    let first = Utc.with_ymd_and_hms(1, 1, 2, 0, 0, 0).unwrap().timestamp();
    let last = Utc
        .with_ymd_and_hms(9999, 12, 30, 0, 0, 0)
        .unwrap()
        .timestamp();
    (first..last, 0u32..1_000_000_000, -86_340i32..86_340).prop_map(|(seconds, nanos, offset)| {
        let time = DateTime::from_timestamp(seconds, nanos).unwrap();
        let offset = FixedOffset::east_opt(offset / 60 * 60).unwrap();
        (time.with_timezone(&offset).to_rfc3339(), time)
    })
}

/// Text a caller may compare: anything but NUL, which the filter refuses.
fn free_text() -> impl Strategy<Value = String> {
    hostile_text().prop_map(|text| text.replace('\0', "").chars().take(200).collect())
}

/// One valid comparison on one of [`fields`].
fn comparison() -> impl Strategy<Value = Written> {
    let written = |field: &str, op: &str, gaps: (&str, &str), value: String| {
        format!("{field}{}{op}{}{value}", gaps.0, gaps.1)
    };
    let gaps = || (gap(), gap());
    prop_oneof![
        (op(), gaps(), free_text()).prop_map(move |((_, op), gaps, text)| Written {
            text: written("owner", op, gaps, quote(&text)),
            value: SqlValue::Text(text),
        }),
        (equality(), gaps(), "[a-z][a-z0-9_]{0,20}").prop_map(move |((_, op), gaps, key)| {
            Written {
                text: written("metric_key", op, gaps, key.clone()),
                value: SqlValue::Text(key),
            }
        }),
        (
            equality(),
            gaps(),
            prop::sample::select(Network::specified_values()),
            any::<bool>()
        )
            .prop_map(move |((_, op), gaps, network, prefixed)| {
                let stored = network.db_name();
                let bare = if prefixed {
                    network.proto_name()
                } else {
                    stored
                };
                Written {
                    text: written("network", op, gaps, bare.to_owned()),
                    value: SqlValue::Text(stored.to_owned()),
                }
            }),
        (op(), gaps(), rfc3339()).prop_map(move |((_, op), gaps, (text, time))| Written {
            text: written("create_time", op, gaps, quote(&text)),
            value: SqlValue::Timestamp(time),
        }),
        (equality(), gaps(), uuid()).prop_map(move |((_, op), gaps, id)| Written {
            text: written("account", op, gaps, quote(&ACCOUNTS.name(id))),
            value: SqlValue::Uuid(id),
        }),
        (equality(), gaps(), prop::option::of(uuid())).prop_map(move |((_, op), gaps, id)| {
            Written {
                text: written(
                    "parent",
                    op,
                    gaps,
                    quote(&id.map(|id| GOALS.name(id)).unwrap_or_default()),
                ),
                value: id.map_or(SqlValue::Null, SqlValue::Uuid),
            }
        }),
        (equality(), gaps(), any::<bool>()).prop_map(move |((_, op), gaps, flag)| Written {
            text: written("builtin", op, gaps, flag.to_string()),
            value: SqlValue::Bool(flag),
        }),
    ]
}

/// A valid filter of one to four comparisons, with what each compiles to.
fn valid_filter() -> impl Strategy<Value = (String, Vec<SqlValue>)> {
    prop::collection::vec(comparison(), 1..5).prop_map(|comparisons| {
        let text = comparisons
            .iter()
            .map(|c| c.text.as_str())
            .collect::<Vec<_>>()
            .join(" AND ");
        (text, comparisons.into_iter().map(|c| c.value).collect())
    })
}

/// The SQL `conditions` must append: fixed text naming columns and
/// placeholders only, so no caller text can ever be read as SQL.
fn expected_sql(conditions: &Conditions) -> String {
    let mut sql = String::from("select 1 where true");
    let mut placeholder = 0;
    for condition in &conditions.0 {
        sql.push_str(" and ");
        sql.push_str(condition.column);
        match (&condition.value, condition.op) {
            (SqlValue::Null, Op::Eq) => sql.push_str(" is null"),
            (SqlValue::Null, _) => sql.push_str(" is not null"),
            _ => {
                placeholder += 1;
                sql.push_str(condition.op.sql());
                sql.push_str(&format!("${placeholder}"));
            }
        }
    }
    sql
}

/// Compiles `filter` against [`fields`]: either conditions whose SQL binds
/// every value, or an INVALID_ARGUMENT on `filter`.
fn check(filter: &str) -> Option<Conditions> {
    match compile(filter, &fields()) {
        Ok(conditions) => {
            let mut query = QueryBuilder::<Postgres>::new("select 1 where true");
            conditions.push_to(&mut query);
            assert_eq!(query.sql(), expected_sql(&conditions));
            for condition in &conditions.0 {
                if let SqlValue::Text(text) = &condition.value {
                    assert!(!text.contains('\0'), "a NUL would reach PostgreSQL");
                }
                if let SqlValue::Timestamp(time) = condition.value {
                    // PostgreSQL's timestamptz spans 4713 BC to 294276 AD.
                    let year = chrono::Datelike::year(&time);
                    assert!((-4712..=294_276).contains(&year), "{time:?}");
                }
            }
            Some(conditions)
        }
        Err(error) => {
            assert_invalid(error, |field| field == "filter");
            None
        }
    }
}

proptest! {
    #[test]
    fn any_text_compiles_or_is_rejected_on_the_filter_field(filter in hostile_text()) {
        check(&filter);
    }

    #[test]
    fn edited_valid_filters_compile_or_are_rejected_on_the_filter_field(
        filter in mutated(valid_filter().prop_map(|(text, _)| text)),
    ) {
        check(&filter);
    }

    #[test]
    fn valid_filters_compile_to_their_values((filter, values) in valid_filter()) {
        let conditions = check(&filter).unwrap_or_else(|| panic!("{filter:?} was rejected"));
        let compiled: Vec<SqlValue> = conditions.0.into_iter().map(|c| c.value).collect();
        prop_assert_eq!(compiled, values);
    }

    #[test]
    fn parsed_comparisons_reparse_to_themselves(
        filter in around(valid_filter().prop_map(|(text, _)| text)),
    ) {
        // Whatever parses can be written back canonically and means the same.
        if let Ok(comparisons) = parse(&filter) {
            let rewritten = comparisons
                .iter()
                .map(|c| {
                    let value = match &c.value {
                        Literal::Quoted(text) => quote(text),
                        Literal::Bare(word) => word.clone(),
                    };
                    format!("{}{}{value}", c.field, c.op.sql().replace(" is distinct from ", "!="))
                })
                .collect::<Vec<_>>()
                .join(" AND ");
            prop_assert_eq!(parse(&rewritten), Ok(comparisons));
        }
    }

    #[test]
    fn enum_values_compile_only_to_stored_names(
        value in around(prop::sample::select(Network::specified_values())
            .prop_map(|network| network.proto_name().to_owned())),
    ) {
        let filter = format!("network = {}", quote(&value.replace('\0', "")));
        if let Some(conditions) = check(&filter) {
            let SqlValue::Text(stored) = &conditions.0[0].value else {
                panic!("an enum compiled to {:?}", conditions.0[0].value);
            };
            prop_assert!(Network::from_db_name(stored).is_some(), "{stored:?}");
        }
    }
}
