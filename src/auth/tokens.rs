//! API tokens: their names, secrets and hashes, and the `api_token` table.
//!
//! A token is 32 bytes from the operating system's CSPRNG, shown to people
//! as `gpt_` and 43 base64url characters. Only its SHA-256 hash is stored
//! and a presented token is found by its hash: with 256 bits of entropy a
//! plain hash cannot be reversed by guessing (a slow, salted hash is for
//! low-entropy passwords), and a lookup by an index on the hash compares no
//! secret byte by byte, so response times reveal nothing about it.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgExecutor};

use super::scopes::{Scope, ScopeSet};
use crate::error::violated_constraint;

/// What every token begins with, so secret scanners and people recognise
/// one in a log or a repository.
pub const TOKEN_PREFIX: &str = "gpt_";

/// How many random bytes a token carries.
const TOKEN_BYTES: usize = 32;

/// The longest token name.
const MAX_NAME_CHARS: usize = 63;

/// A token's name: 1 to 63 characters of lowercase ASCII letters, digits,
/// `.`, `_` and `-`, beginning with a letter or digit. Names are what logs,
/// spans and observation provenance show, so they are kept plain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenName(String);

impl TokenName {
    /// Checks a name against the rule above.
    pub fn parse(name: &str) -> Result<TokenName, String> {
        if name.is_empty() {
            return Err("must not be empty".to_owned());
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(format!("must be at most {MAX_NAME_CHARS} characters"));
        }
        if let Some(bad) = name.chars().find(|c| {
            !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        }) {
            return Err(format!(
                "{bad:?} is not allowed: use lowercase letters, digits, '.', '_' and '-'"
            ));
        }
        if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err("must begin with a letter or a digit".to_owned());
        }
        Ok(TokenName(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A token's secret, as handed to its holder once. Its `Debug` output is
/// redacted so that it cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret(String);

impl TokenSecret {
    /// A new random token.
    pub fn generate() -> Result<TokenSecret, getrandom::Error> {
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(TokenSecret(format!(
            "{TOKEN_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(bytes)
        )))
    }

    /// Whether `presented` has the shape of a goalpost token; anything else
    /// is refused without asking the database.
    pub fn is_well_formed(presented: &str) -> bool {
        presented
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|encoded| URL_SAFE_NO_PAD.decode(encoded).ok())
            .is_some_and(|bytes| bytes.len() == TOKEN_BYTES)
    }

    /// The token as its holder sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash the table keeps.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(<redacted>)")
    }
}

/// The SHA-256 hash of a token, which is all the database holds of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// The hash of a presented token.
    pub fn of(presented: &str) -> TokenHash {
        TokenHash(Sha256::digest(presented.as_bytes()).into())
    }

    fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// A token as `goalpost token list` shows it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// The token's name.
    pub name: String,
    /// Its scopes.
    pub scopes: ScopeSet,
    /// When it was created.
    pub create_time: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoke_time: Option<DateTime<Utc>>,
}

/// What the table says about a presented token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// A live token: its name and scopes.
    Active {
        /// The token's name.
        name: TokenName,
        /// Its scopes.
        scopes: ScopeSet,
    },
    /// The token was revoked.
    Revoked {
        /// The token's name.
        name: TokenName,
    },
    /// No token has this hash.
    Unknown,
}

/// Why a token could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// Another token, live or revoked, has the name.
    #[error(
        "a token named {0} already exists (revoked tokens keep their names): choose another name"
    )]
    NameTaken(TokenName),
    /// The operating system's random source failed.
    #[error("cannot generate a random token: {0}")]
    Random(getrandom::Error),
    /// The database refused or failed.
    #[error("cannot store the token: {0}")]
    Database(#[source] sqlx::Error),
}

/// Creates a token named `name` with `scopes` and returns its secret, the
/// only time it is ever available. One insert: a concurrent create of the
/// same name fails whole on the name's unique constraint.
pub async fn create(
    db: impl PgExecutor<'_>,
    name: &TokenName,
    scopes: ScopeSet,
) -> Result<(TokenSecret, TokenRecord), CreateError> {
    let secret = TokenSecret::generate().map_err(CreateError::Random)?;
    let create_time: DateTime<Utc> = sqlx::query_scalar(
        "insert into api_token (name, token_hash, scopes) values ($1, $2, $3) returning create_time",
    )
    .bind(name.as_str())
    .bind(secret.hash().as_bytes())
    .bind(scopes.names())
    .fetch_one(db)
    .await
    .map_err(|error| match violated_constraint(&error) {
        Some("api_token_name_key") => CreateError::NameTaken(name.clone()),
        _ => CreateError::Database(error),
    })?;
    let record = TokenRecord {
        name: name.to_string(),
        scopes,
        create_time,
        revoke_time: None,
    };
    Ok((secret, record))
}

/// A row of `api_token`, as listed.
#[derive(sqlx::FromRow)]
struct TokenRow {
    name: String,
    scopes: Vec<String>,
    create_time: DateTime<Utc>,
    revoke_time: Option<DateTime<Utc>>,
}

/// Every token, live and revoked, oldest first.
pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<TokenRecord>, sqlx::Error> {
    let rows: Vec<TokenRow> = sqlx::query_as(
        "select name, scopes, create_time, revoke_time from api_token order by create_time, name",
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| TokenRecord {
            name: row.name,
            scopes: scope_set(&row.scopes),
            create_time: row.create_time,
            revoke_time: row.revoke_time,
        })
        .collect())
}

/// What revoking a name did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// The token was live and is revoked now.
    Revoked(DateTime<Utc>),
    /// The token had been revoked already, at that time.
    AlreadyRevoked(DateTime<Utc>),
    /// No token has the name.
    NotFound,
}

/// Revokes the token named `name`. Servers stop accepting it once their
/// cache of verified tokens expires (see [`super::verify`]).
pub async fn revoke(db: &mut PgConnection, name: &TokenName) -> Result<Revocation, sqlx::Error> {
    let revoked: Option<DateTime<Utc>> = sqlx::query_scalar(
        "update api_token set revoke_time = now() where name = $1 and revoke_time is null
         returning revoke_time",
    )
    .bind(name.as_str())
    .fetch_optional(&mut *db)
    .await?;
    if let Some(time) = revoked {
        return Ok(Revocation::Revoked(time));
    }
    // A statement of its own, so its snapshot sees a concurrent revocation
    // that the update above waited for and then found done.
    let earlier: Option<Option<DateTime<Utc>>> =
        sqlx::query_scalar("select revoke_time from api_token where name = $1")
            .bind(name.as_str())
            .fetch_optional(&mut *db)
            .await?;
    Ok(match earlier {
        Some(Some(time)) => Revocation::AlreadyRevoked(time),
        // Live a moment ago yet not revocable: cannot happen, as tokens are
        // never un-revoked; report it as missing rather than guess.
        Some(None) | None => Revocation::NotFound,
    })
}

/// Looks a presented token up by its hash.
pub async fn find(db: impl PgExecutor<'_>, hash: &TokenHash) -> Result<Lookup, sqlx::Error> {
    let row: Option<(String, Vec<String>, bool)> = sqlx::query_as(
        "select name, scopes, revoke_time is not null from api_token where token_hash = $1",
    )
    .bind(hash.as_bytes())
    .fetch_optional(db)
    .await?;
    Ok(match row {
        None => Lookup::Unknown,
        Some((name, scopes, revoked)) => {
            // The table's check constraint holds names to the same rule.
            let name = TokenName(name);
            if revoked {
                Lookup::Revoked { name }
            } else {
                Lookup::Active {
                    name,
                    scopes: scope_set(&scopes),
                }
            }
        }
    })
}

/// Whether any token is live: without one, servers that allow it run in
/// anonymous mode.
pub async fn any_active(db: impl PgExecutor<'_>) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select exists (select from api_token where revoke_time is null)")
        .fetch_one(db)
        .await
}

/// The scopes of stored names; the table's check constraint admits only
/// known ones.
fn scope_set(names: &[String]) -> ScopeSet {
    ScopeSet::of(names.iter().filter_map(|name| Scope::parse(name).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_names_follow_the_rule() {
        let cases = [
            ("a plain name", "ci-ingest", true),
            ("dots and underscores", "metabase.reader_2", true),
            ("a digit first", "1password-sync", true),
            ("the longest", &"a".repeat(63), true),
            ("empty", "", false),
            ("too long", &"a".repeat(64), false),
            ("upper case", "CI", false),
            ("a space", "ci ingest", false),
            ("a slash", "ci/ingest", false),
            ("punctuation first", "-ci", false),
            ("non-ASCII", "détecteur", false),
        ];
        for (description, name, valid) in cases {
            assert_eq!(TokenName::parse(name).is_ok(), valid, "{description}");
        }
    }

    #[test]
    fn generated_tokens_are_well_formed_and_distinct() {
        let first = TokenSecret::generate().unwrap();
        let second = TokenSecret::generate().unwrap();
        assert_ne!(first, second);
        assert!(TokenSecret::is_well_formed(first.expose()));
        assert_eq!(first.expose().len(), TOKEN_PREFIX.len() + 43);
        assert_ne!(first.hash(), second.hash());
        assert_eq!(first.hash(), TokenHash::of(first.expose()));
    }

    #[test]
    fn only_the_token_shape_is_well_formed() {
        let token = TokenSecret::generate().unwrap();
        let cases = [
            ("no prefix", token.expose()[TOKEN_PREFIX.len()..].to_owned()),
            ("a short token", token.expose()[..20].to_owned()),
            ("a longer token", format!("{}AA", token.expose())),
            ("not base64url", format!("{TOKEN_PREFIX}{}", "!".repeat(43))),
            ("empty", String::new()),
        ];
        for (description, presented) in cases {
            assert!(!TokenSecret::is_well_formed(&presented), "{description}");
        }
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let token = TokenSecret::generate().unwrap();
        assert!(!format!("{token:?}").contains(&token.expose()[TOKEN_PREFIX.len()..]));
    }
}
