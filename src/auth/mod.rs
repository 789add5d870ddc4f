//! Authentication and scopes (DESIGN §5).
//!
//! Callers send `authorization: Bearer <token>`. Tokens are created, listed
//! and revoked with `goalpost token` ([`cli`]) and stored as hashes
//! ([`tokens`]). One tower layer in the server stack ([`layer`]) checks
//! every call: the token ([`verify`], with a short cache) and the scope its
//! method needs ([`scopes`]). Health and reflection stay open.
//!
//! While no live token exists, servers on a loopback address (or started
//! with `--insecure-allow-anonymous`) accept calls without one: anonymous
//! mode, so a fresh install and its grpcurl examples work at once. The
//! first token created ends it within the cache lifetime; a server asked to
//! listen beyond loopback with no token refuses to start
//! ([`check_listen_policy`]).

pub mod cli;
pub mod client;
pub mod layer;
pub mod scopes;
pub mod tokens;
pub mod verify;

use std::net::SocketAddr;

use sqlx::PgPool;

use scopes::ScopeSet;
use tokens::TokenName;

/// Who made a call; the auth layer puts it in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No token, accepted in anonymous mode: may call everything.
    Anonymous,
    /// A live token.
    Token {
        /// The token's name.
        name: TokenName,
        /// Its scopes.
        scopes: ScopeSet,
    },
}

impl Caller {
    /// The caller's token name, if it sent a token.
    pub fn token_name(&self) -> Option<&TokenName> {
        match self {
            Caller::Anonymous => None,
            Caller::Token { name, .. } => Some(name),
        }
    }

    /// The token name of the call whose extensions these are: `None` for
    /// anonymous calls, and for a server built without the auth layer.
    pub fn token_name_in(extensions: &http::Extensions) -> Option<TokenName> {
        extensions
            .get::<Caller>()
            .and_then(Caller::token_name)
            .cloned()
    }
}

/// Why `serve` refuses to start on its listen address.
#[derive(Debug, thiserror::Error)]
pub enum ListenRefusal {
    /// Beyond loopback with no live token and no explicit opt-in.
    #[error(
        "refusing to serve on {address} without authentication: no live API token exists, so anyone \
         who can reach this address could call every method; create one with `goalpost token \
         create --name NAME --scope admin` (same DATABASE_URL or --data-dir), listen on a \
         loopback address, or accept the risk with --insecure-allow-anonymous \
         (GOALPOST_INSECURE_ALLOW_ANONYMOUS=true)"
    )]
    AnonymousBeyondLoopback {
        /// The address asked for.
        address: SocketAddr,
    },
    /// The token table could not be read.
    #[error("cannot read the API tokens: {0}")]
    Database(#[source] sqlx::Error),
}

/// Whether anonymous mode may apply on `listen`: on loopback, or when the
/// operator said so explicitly.
pub fn anonymous_allowed(listen: SocketAddr, insecure_allow_anonymous: bool) -> bool {
    listen.ip().is_loopback() || insecure_allow_anonymous
}

/// Refuses a server beyond loopback while no live token exists, unless
/// anonymous calls were explicitly allowed; logs which mode applies.
pub async fn check_listen_policy(
    pool: &PgPool,
    listen: SocketAddr,
    insecure_allow_anonymous: bool,
) -> Result<(), ListenRefusal> {
    let any_active = tokens::any_active(pool)
        .await
        .map_err(ListenRefusal::Database)?;
    if any_active {
        tracing::info!("API tokens exist: every call but health and reflection needs one");
        return Ok(());
    }
    if !anonymous_allowed(listen, insecure_allow_anonymous) {
        return Err(ListenRefusal::AnonymousBeyondLoopback { address: listen });
    }
    if listen.ip().is_loopback() {
        tracing::info!(
            "no API token exists: calls without a token are accepted (anonymous mode) until `goalpost token create` makes one"
        );
    } else {
        tracing::warn!(%listen, "no API token exists and --insecure-allow-anonymous is set: anyone who reaches this address may call every method");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_mode_needs_loopback_or_an_explicit_flag() {
        let cases = [
            ("IPv4 loopback", "127.0.0.1:50051", false, true),
            ("another IPv4 loopback", "127.0.0.2:50051", false, true),
            ("IPv6 loopback", "[::1]:50051", false, true),
            ("every interface", "0.0.0.0:50051", false, false),
            ("every IPv6 interface", "[::]:50051", false, false),
            ("a LAN address", "192.168.1.10:50051", false, false),
            ("every interface, allowed", "0.0.0.0:50051", true, true),
        ];
        for (description, listen, flag, expected) in cases {
            assert_eq!(
                anonymous_allowed(listen.parse().unwrap(), flag),
                expected,
                "{description}"
            );
        }
    }
}
