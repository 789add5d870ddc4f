//! Who is calling: the `authorization` metadata checked against the token
//! table, through a short-lived in-memory cache.
//!
//! A verdict on a token (live with its scopes, revoked, or unknown) and the
//! answer to "does any live token exist" are each kept for the cache
//! lifetime (`--token-cache-secs`, 5 s by default), then asked of the
//! database again. So on every replica, a revoked token stops working, and
//! a first token ends anonymous mode, at most that long after the change
//! commits; meanwhile a busy client costs one indexed lookup per lifetime,
//! not one per call. A database that cannot be reached while a verdict is
//! needed answers UNAVAILABLE, never UNAUTHENTICATED: the caller's token may
//! well be good.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::HeaderValue;
use sqlx::PgPool;

use super::Caller;
use super::scopes::Access;
use super::tokens::{self, Lookup, TokenHash, TokenSecret};
use crate::error::ApiError;

/// The default lifetime of a cached verdict.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(5);

/// How many verdicts the cache holds at most. Unknown tokens are cached
/// too (so a client retrying a bad token does not reach the database on
/// every call); this bound keeps a flood of random tokens from growing it.
const MAX_CACHED_VERDICTS: usize = 10_000;

/// The `ErrorInfo.reason` of a call without a token.
pub const TOKEN_MISSING: &str = "TOKEN_MISSING";
/// The `ErrorInfo.reason` of a malformed or unknown token.
pub const TOKEN_INVALID: &str = "TOKEN_INVALID";
/// The `ErrorInfo.reason` of a revoked token.
pub const TOKEN_REVOKED: &str = "TOKEN_REVOKED";

/// How the server treats calls, as configured at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthPolicy {
    /// Whether calls without a token are accepted while no live token
    /// exists (anonymous mode). Servers on loopback addresses, and those
    /// started with `--insecure-allow-anonymous`, allow it.
    pub anonymous_allowed: bool,
    /// How long verdicts are cached; zero asks the database on every call.
    pub cache_ttl: Duration,
}

/// Checks callers' tokens, remembering verdicts for [`AuthPolicy::cache_ttl`].
#[derive(Debug)]
pub struct Verifier {
    pool: PgPool,
    policy: AuthPolicy,
    cache: Mutex<Cache>,
}

#[derive(Debug, Default)]
struct Cache {
    verdicts: HashMap<TokenHash, (Lookup, Instant)>,
    /// Whether a live token existed, and when that was learnt.
    any_active: Option<(bool, Instant)>,
}

impl Verifier {
    /// A verifier reading tokens through `pool`.
    pub fn new(pool: PgPool, policy: AuthPolicy) -> Verifier {
        Verifier {
            pool,
            policy,
            cache: Mutex::new(Cache::default()),
        }
    }

    /// Who sent a call with this `authorization` metadata, or why the call
    /// is refused: UNAUTHENTICATED for a missing, malformed, unknown or
    /// revoked token, UNAVAILABLE when the database cannot tell.
    pub async fn identify(&self, authorization: Option<&HeaderValue>) -> Result<Caller, ApiError> {
        let Some(authorization) = authorization else {
            return self.without_token().await;
        };
        let presented = bearer_token(authorization).ok_or_else(|| {
            unauthenticated(
                TOKEN_INVALID,
                "the authorization metadata must read \"Bearer <token>\", with a token from `goalpost token create`",
            )
        })?;
        let unknown = || {
            unauthenticated(
                TOKEN_INVALID,
                "the bearer token is not a valid goalpost token: send one from `goalpost token create` as \"authorization: Bearer <token>\"",
            )
        };
        if !TokenSecret::is_well_formed(presented) {
            return Err(unknown());
        }
        match self.lookup(TokenHash::of(presented)).await? {
            Lookup::Active { name, scopes } => Ok(Caller::Token { name, scopes }),
            Lookup::Revoked { name } => Err(unauthenticated(
                TOKEN_REVOKED,
                format!(
                    "the bearer token {name} was revoked: use another token, or create one with `goalpost token create`"
                ),
            )),
            Lookup::Unknown => Err(unknown()),
        }
    }

    /// A call without a token passes only in anonymous mode.
    async fn without_token(&self) -> Result<Caller, ApiError> {
        if self.policy.anonymous_allowed && !self.any_active().await? {
            return Ok(Caller::Anonymous);
        }
        Err(unauthenticated(
            TOKEN_MISSING,
            "this call needs a bearer token: send the metadata \"authorization: Bearer <token>\" with a token from `goalpost token create`",
        ))
    }

    async fn lookup(&self, hash: TokenHash) -> Result<Lookup, ApiError> {
        if let Some(verdict) = self.cached(|cache, now| {
            cache
                .verdicts
                .get(&hash)
                .filter(|(_, at)| self.fresh(*at, now))
                .map(|(verdict, _)| verdict.clone())
        }) {
            return Ok(verdict);
        }
        let verdict = tokens::find(&self.pool, &hash).await?;
        self.remember(|cache, now| {
            if cache.verdicts.len() >= MAX_CACHED_VERDICTS {
                cache.verdicts.retain(|_, (_, at)| self.fresh(*at, now));
                if cache.verdicts.len() >= MAX_CACHED_VERDICTS {
                    cache.verdicts.clear();
                }
            }
            cache.verdicts.insert(hash, (verdict.clone(), now));
        });
        Ok(verdict)
    }

    async fn any_active(&self) -> Result<bool, ApiError> {
        if let Some(any) = self.cached(|cache, now| {
            cache
                .any_active
                .filter(|(_, at)| self.fresh(*at, now))
                .map(|(any, _)| any)
        }) {
            return Ok(any);
        }
        let any = tokens::any_active(&self.pool).await?;
        self.remember(|cache, now| cache.any_active = Some((any, now)));
        Ok(any)
    }

    fn fresh(&self, learnt: Instant, now: Instant) -> bool {
        now.saturating_duration_since(learnt) < self.policy.cache_ttl
    }

    fn cached<T>(&self, read: impl FnOnce(&Cache, Instant) -> Option<T>) -> Option<T> {
        if self.policy.cache_ttl.is_zero() {
            return None;
        }
        // A poisoned lock only means another call panicked mid-update of a
        // cache whose entries are each valid on their own.
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        read(&cache, Instant::now())
    }

    fn remember(&self, write: impl FnOnce(&mut Cache, Instant)) {
        if self.policy.cache_ttl.is_zero() {
            return;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        write(&mut cache, Instant::now());
    }
}

impl Caller {
    /// Whether this caller may call `method`, which needs `access`.
    pub fn authorize(&self, access: Access, method: &str) -> Result<(), ApiError> {
        match (self, access) {
            (Caller::Token { name, scopes }, Access::Needs(scope)) if !scopes.allows(scope) => {
                Err(ApiError::PermissionDenied {
                    token: name.to_string(),
                    scope: scope.as_str(),
                    method: method.to_owned(),
                })
            }
            _ => Ok(()),
        }
    }
}

/// The token of a `Bearer` authorization value (the scheme is
/// case-insensitive, as in HTTP).
fn bearer_token(value: &HeaderValue) -> Option<&str> {
    let value = value.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim_start())
}

fn unauthenticated(reason: &'static str, message: impl Into<String>) -> ApiError {
    // RFC 6750's challenges: a bare one asks for credentials, one with
    // `invalid_token` says those sent will not do.
    let challenge = if reason == TOKEN_MISSING {
        r#"Bearer realm="goalpost""#
    } else {
        r#"Bearer realm="goalpost", error="invalid_token""#
    };
    ApiError::Unauthenticated {
        reason,
        message: message.into(),
        challenge,
    }
}

#[cfg(test)]
mod tests {
    use sqlx::postgres::PgPoolOptions;
    use tonic::Code;

    use super::*;
    use crate::auth::scopes::{Scope, ScopeSet};
    use crate::auth::tokens::TokenName;

    #[test]
    fn bearer_values_are_read_case_insensitively() {
        let cases = [
            ("the usual form", "Bearer abc", Some("abc")),
            ("lowercase scheme", "bearer abc", Some("abc")),
            ("extra spaces", "  Bearer   abc ", Some("abc")),
            ("another scheme", "Basic abc", None),
            ("no token", "Bearer", None),
            ("a bare token", "abc", None),
        ];
        for (description, value, expected) in cases {
            let value = HeaderValue::from_str(value).unwrap();
            assert_eq!(bearer_token(&value), expected, "{description}");
        }
    }

    #[test]
    fn a_token_without_the_scope_is_denied_naming_it() {
        let caller = Caller::Token {
            name: TokenName::parse("dashboard").unwrap(),
            scopes: ScopeSet::of([Scope::Read]),
        };
        let method = "/goalpost.v1.GoalService/CreateGoal";
        assert!(caller.authorize(Access::Needs(Scope::Read), method).is_ok());
        assert!(caller.authorize(Access::Unknown, method).is_ok());
        let error = caller
            .authorize(Access::Needs(Scope::Write), method)
            .unwrap_err();
        assert_eq!(error.code(), Code::PermissionDenied);
        assert!(error.to_string().contains("write"), "{error}");
        assert!(
            Caller::Anonymous
                .authorize(Access::Needs(Scope::Admin), method)
                .is_ok()
        );
    }

    /// A verifier whose database refuses connections.
    fn verifier_without_database(anonymous_allowed: bool) -> Verifier {
        let pool = PgPoolOptions::new()
            .acquire_timeout(Duration::from_millis(500))
            .connect_lazy("postgres://goalpost@127.0.0.1:1/goalpost")
            .unwrap();
        Verifier::new(
            pool,
            AuthPolicy {
                anonymous_allowed,
                cache_ttl: DEFAULT_CACHE_TTL,
            },
        )
    }

    #[tokio::test]
    async fn a_database_outage_is_unavailable_not_unauthenticated() {
        let verifier = verifier_without_database(true);
        let token = TokenSecret::generate().unwrap();
        let header = HeaderValue::from_str(&format!("Bearer {}", token.expose())).unwrap();
        let error = verifier.identify(Some(&header)).await.unwrap_err();
        assert_eq!(error.code(), Code::Unavailable, "{error:?}");
        let error = verifier.identify(None).await.unwrap_err();
        assert_eq!(error.code(), Code::Unavailable, "{error:?}");
    }

    #[tokio::test]
    async fn bad_tokens_are_refused_without_asking_the_database() {
        // The database is unreachable: an answer other than UNAVAILABLE
        // shows that it was not asked.
        let verifier = verifier_without_database(true);
        let cases = [
            ("another scheme", "Basic dXNlcjpwYXNz"),
            ("not a goalpost token", "Bearer hunter2"),
            ("a truncated token", "Bearer gpt_abc"),
        ];
        for (description, value) in cases {
            let header = HeaderValue::from_str(value).unwrap();
            let error = verifier.identify(Some(&header)).await.unwrap_err();
            assert_eq!(error.code(), Code::Unauthenticated, "{description}");
            assert_eq!(error.reason(), TOKEN_INVALID, "{description}");
        }
    }

    #[tokio::test]
    async fn without_anonymous_mode_a_missing_token_is_refused_at_once() {
        let verifier = verifier_without_database(false);
        let error = verifier.identify(None).await.unwrap_err();
        assert_eq!(error.reason(), TOKEN_MISSING);
    }
}
