//! `goalpost token create | list | revoke`: managing API tokens from the
//! command line, against the database `goalpost serve` uses (DATABASE_URL,
//! or the private instance under `--data-dir`, reached as `goalpost bi
//! grant` reaches it).

use std::path::PathBuf;

use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, Subcommand};

use super::scopes::{Scope, ScopeSet};
use super::tokens::{self, CreateError, Revocation, TokenName, TokenRecord};
use crate::db::command::{CommandDatabase, CommandDatabaseError, WhenNoLocalData};
use crate::db::local::LocalPostgresError;
use crate::db::pool::MIGRATOR;

/// `goalpost token`: API tokens for the gRPC API.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: TokenCommand,
}

/// The subcommands of `goalpost token`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it, the only time it is shown.
    Create(CreateSettings),
    /// List every token (live and revoked) with its scopes; never secrets.
    List(ListSettings),
    /// Revoke a token; servers refuse it once their token cache expires.
    Revoke(RevokeSettings),
}

/// Where the token commands find goalpost's database.
#[derive(Debug, Clone, Args)]
pub struct TokenDatabase {
    /// The private PostgreSQL's data directory, used when DATABASE_URL is not set.
    #[arg(long, env = "GOALPOST_DATA_DIR", default_value = "./goalpost-data")]
    pub data_dir: PathBuf,

    /// The PostgreSQL database goalpost uses; when unset, the private instance under --data-dir.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

/// Settings of `goalpost token create`.
#[derive(Debug, Clone, Args)]
pub struct CreateSettings {
    /// The token's name: lowercase letters, digits, '.', '_' and '-', at
    /// most 63 characters. Logs and observation provenance show it.
    #[arg(long, value_parser = TokenName::parse)]
    pub name: TokenName,

    /// A scope the token holds: read, write, ingest or admin. Repeat the
    /// flag or separate scopes with commas.
    #[arg(long = "scope", required = true, value_delimiter = ',', value_parser = Scope::parse)]
    pub scopes: Vec<Scope>,

    /// Where the database is.
    #[command(flatten)]
    pub database: TokenDatabase,
}

/// Settings of `goalpost token list`.
#[derive(Debug, Clone, Args)]
pub struct ListSettings {
    /// Where the database is.
    #[command(flatten)]
    pub database: TokenDatabase,
}

/// Settings of `goalpost token revoke`.
#[derive(Debug, Clone, Args)]
pub struct RevokeSettings {
    /// The name of the token to revoke.
    #[arg(long, value_parser = TokenName::parse)]
    pub name: TokenName,

    /// Where the database is.
    #[command(flatten)]
    pub database: TokenDatabase,
}

/// Why a token command failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenCommandError {
    /// The database could not be reached.
    #[error(transparent)]
    Database(#[from] CommandDatabaseError),
    /// The schema could not be brought up to date.
    #[error("cannot apply the schema migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The token could not be created.
    #[error(transparent)]
    Create(#[from] CreateError),
    /// No token has the name given to revoke.
    #[error("no token is named {0}: see `goalpost token list`")]
    NotFound(TokenName),
    /// A statement failed.
    #[error("the token table could not be read or written: {0}")]
    Sql(#[from] sqlx::Error),
    /// The private instance started for the command did not stop cleanly.
    #[error(transparent)]
    Local(#[from] LocalPostgresError),
}

/// How servers' caches are described to people.
const CACHE_NOTE: &str = "their token cache lifetime, --token-cache-secs, 5 s by default";

/// Runs a `goalpost token` command.
pub async fn run(args: TokenArgs) -> Result<(), TokenCommandError> {
    let database = match &args.command {
        TokenCommand::Create(settings) => &settings.database,
        TokenCommand::List(settings) => &settings.database,
        TokenCommand::Revoke(settings) => &settings.database,
    };
    let database_url = database
        .database_url
        .as_deref()
        .filter(|url| !url.trim().is_empty());
    // Tokens may be the first thing set up on a machine (before serving
    // beyond loopback), so an empty data dir gets its cluster and the
    // schema here, as `goalpost serve` would make them.
    let mut database =
        CommandDatabase::open(database_url, &database.data_dir, WhenNoLocalData::Create).await?;
    let result = run_on(&mut database, args.command).await;
    database.close().await?;
    result
}

async fn run_on(
    database: &mut CommandDatabase,
    command: TokenCommand,
) -> Result<(), TokenCommandError> {
    let connection = &mut database.connection;
    MIGRATOR.run(&mut *connection).await?;
    match command {
        TokenCommand::Create(settings) => {
            let scopes = ScopeSet::of(settings.scopes);
            let (secret, record) = tokens::create(&mut *connection, &settings.name, scopes).await?;
            // The secret alone on stdout, so `TOKEN=$(goalpost token create …)` works.
            println!("{}", secret.expose());
            eprintln!(
                "created token {} with scope(s) {}: the line above is its secret, shown only this \
                 once; send it as \"authorization: Bearer <token>\". Servers leave anonymous mode, \
                 if they were in it, within {CACHE_NOTE}",
                record.name, record.scopes
            );
        }
        TokenCommand::List(_) => {
            let tokens = tokens::list(&mut *connection).await?;
            if tokens.is_empty() {
                println!(
                    "no API tokens exist: servers on loopback (or started with \
                     --insecure-allow-anonymous) accept calls without one"
                );
            } else {
                print!("{}", token_table(&tokens));
            }
        }
        TokenCommand::Revoke(settings) => {
            match tokens::revoke(&mut *connection, &settings.name).await? {
                Revocation::Revoked(_) => println!(
                    "revoked token {}: servers refuse it within {CACHE_NOTE}",
                    settings.name
                ),
                Revocation::AlreadyRevoked(at) => println!(
                    "token {} was revoked already, at {}",
                    settings.name,
                    timestamp(at)
                ),
                Revocation::NotFound => return Err(TokenCommandError::NotFound(settings.name)),
            }
            if !tokens::any_active(&mut *connection).await? {
                eprintln!(
                    "warning: no live token remains, so servers on loopback (or started with \
                     --insecure-allow-anonymous) accept calls without a token again"
                );
            }
        }
    }
    Ok(())
}

/// The tokens as aligned columns with a header line.
fn token_table(tokens: &[TokenRecord]) -> String {
    let rows: Vec<[String; 4]> = tokens
        .iter()
        .map(|token| {
            [
                token.name.clone(),
                token.scopes.to_string(),
                timestamp(token.create_time),
                token.revoke_time.map_or_else(|| "-".to_owned(), timestamp),
            ]
        })
        .collect();
    let header = ["NAME", "SCOPES", "CREATED", "REVOKED"].map(str::to_owned);
    let mut widths = [0; 4];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut table = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        table.push_str(cells.join("  ").trim_end());
        table.push('\n');
    }
    table
}

fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: TokenCommand,
    }

    #[test]
    fn scopes_are_taken_repeated_or_comma_separated() {
        let cli = Cli::try_parse_from([
            "token",
            "create",
            "--name",
            "ci",
            "--scope",
            "read,write",
            "--scope",
            "ingest",
        ])
        .unwrap();
        let TokenCommand::Create(settings) = cli.command else {
            panic!("create parses as create");
        };
        assert_eq!(settings.scopes, [Scope::Read, Scope::Write, Scope::Ingest]);
    }

    #[test]
    fn bad_names_and_scopes_and_missing_scopes_are_refused() {
        let cases: [(&str, &[&str]); 3] = [
            ("an unknown scope", &["--name", "ci", "--scope", "root"]),
            ("a bad name", &["--name", "CI Bot", "--scope", "read"]),
            ("no scope", &["--name", "ci"]),
        ];
        for (description, args) in cases {
            let parsed = Cli::try_parse_from(["token", "create"].iter().chain(args));
            assert!(parsed.is_err(), "{description}");
        }
    }

    #[test]
    fn the_table_aligns_columns_and_marks_live_tokens() {
        let at = DateTime::parse_from_rfc3339("2026-12-04T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let tokens = [
            TokenRecord {
                name: "ci-ingest".into(),
                scopes: ScopeSet::of([Scope::Ingest]),
                create_time: at,
                revoke_time: None,
            },
            TokenRecord {
                name: "old".into(),
                scopes: ScopeSet::of([Scope::Read, Scope::Write]),
                create_time: at,
                revoke_time: Some(at),
            },
        ];
        assert_eq!(
            token_table(&tokens),
            "NAME       SCOPES      CREATED               REVOKED\n\
             ci-ingest  ingest      2026-12-04T10:00:00Z  -\n\
             old        read,write  2026-12-04T10:00:00Z  2026-12-04T10:00:00Z\n"
        );
    }
}
