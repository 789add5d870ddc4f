//! The role name and password of `goalpost bi grant`, checked before they go
//! anywhere near SQL, and quoted for the statements that cannot take them as
//! bind parameters (CREATE ROLE, GRANT and friends are utility statements).

use std::fmt;

/// PostgreSQL keeps the first 63 bytes of a name (NAMEDATALEN − 1) and drops
/// the rest silently; a longer name would create a role other than the one
/// asked for, so it is refused instead.
const MAX_NAME_BYTES: usize = 63;

/// A role name PostgreSQL will take as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleName(String);

impl RoleName {
    /// Checks `name`: not empty, no NUL, at most 63 bytes, and not one that
    /// PostgreSQL reserves (`public`, `none`, the `pg_` prefix). Any other
    /// text is fine: the name is always quoted, so case and punctuation are
    /// kept exactly.
    pub fn parse(name: &str) -> Result<RoleName, String> {
        if name.is_empty() {
            return Err("the role name is empty".to_owned());
        }
        if name.contains('\0') {
            return Err("the role name contains a NUL byte".to_owned());
        }
        if name.len() > MAX_NAME_BYTES {
            return Err(format!(
                "the role name is {} bytes long; PostgreSQL keeps at most {MAX_NAME_BYTES}",
                name.len()
            ));
        }
        if name.starts_with("pg_") || name == "public" || name == "none" {
            return Err(format!("the role name {name:?} is reserved by PostgreSQL"));
        }
        Ok(RoleName(name.to_owned()))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as a quoted SQL identifier.
    pub fn quoted(&self) -> String {
        quote_identifier(&self.0)
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password for the role. Its Debug form hides it, so it cannot leak
/// through a log line or an error.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Checks `password`: PostgreSQL clears the password when given an empty
    /// one, and text cannot hold NUL.
    pub fn parse(password: &str) -> Result<Password, String> {
        if password.is_empty() {
            return Err("the password is empty".to_owned());
        }
        if password.contains('\0') {
            return Err("the password contains a NUL byte".to_owned());
        }
        Ok(Password(password.to_owned()))
    }

    /// The password as a SQL string literal.
    pub fn quoted(&self) -> String {
        quote_literal(&self.0)
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// `text` as a double-quoted SQL identifier: inner quotes doubled, nothing
/// else needs escaping.
pub fn quote_identifier(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// `text` as an escape string literal (`E'…'`), which reads the same whatever
/// `standard_conforming_strings` says: quotes and backslashes doubled.
pub fn quote_literal(text: &str) -> String {
    format!("E'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_are_checked_before_they_reach_sql() {
        let cases = [
            ("a plain name", "bi_reader", true),
            ("mixed case is kept, quoted", "Metabase", true),
            (
                "punctuation and spaces are fine when quoted",
                "bi reader; drop",
                true,
            ),
            ("a quote inside is fine when doubled", "o\"brien", true),
            ("non-ASCII letters", "lecteur_bi_é", true),
            ("63 bytes, the most PostgreSQL keeps", &"r".repeat(63), true),
            ("empty", "", false),
            ("a NUL byte", "bi\0reader", false),
            ("64 bytes would be truncated", &"r".repeat(64), false),
            ("multi-byte letters past 63 bytes", &"é".repeat(32), false),
            ("the pg_ prefix is reserved", "pg_reader", false),
            ("public is reserved", "public", false),
            ("none is reserved", "none", false),
        ];
        for (description, name, valid) in cases {
            assert_eq!(
                RoleName::parse(name).is_ok(),
                valid,
                "{description}: {name:?}"
            );
        }
    }

    #[test]
    fn passwords_must_be_non_empty_text_and_never_show() {
        assert!(Password::parse("").is_err());
        assert!(Password::parse("a\0b").is_err());
        let password = Password::parse("s3cret").unwrap();
        assert!(!format!("{password:?}").contains("s3cret"));
    }

    #[test]
    fn identifiers_are_quoted_with_inner_quotes_doubled() {
        let cases = [
            ("plain", "bi", "\"bi\""),
            ("case kept", "BiReader", "\"BiReader\""),
            ("a quote", "a\"b", "\"a\"\"b\""),
            ("only quotes", "\"\"", "\"\"\"\"\"\""),
            (
                "an injection attempt stays one name",
                "x\"; drop table goal; --",
                "\"x\"\"; drop table goal; --\"",
            ),
        ];
        for (description, input, quoted) in cases {
            assert_eq!(quote_identifier(input), quoted, "{description}");
        }
    }

    #[test]
    fn literals_escape_quotes_and_backslashes() {
        let cases = [
            ("plain", "pw", "E'pw'"),
            ("a quote", "it's", "E'it''s'"),
            ("a backslash", "a\\b", "E'a\\\\b'"),
            (
                "a trailing backslash cannot eat the quote",
                "a\\",
                "E'a\\\\'",
            ),
            (
                "an injection attempt stays one literal",
                "x'; drop role y; --",
                "E'x''; drop role y; --'",
            ),
        ];
        for (description, input, quoted) in cases {
            assert_eq!(quote_literal(input), quoted, "{description}");
        }
    }
}
