//! The `reporting` schema for BI tools, and `goalpost bi grant`, which gives
//! a read-only role access to it and nothing else.
//!
//! The views themselves live in `migrations/20261202000003_reporting.sql`;
//! this module keeps the one thing they read that is defined in Rust (the
//! goal-type catalog, [`sync_goal_types`]) and the grant command.

mod goal_types;
mod privileges;
pub mod role;

pub use goal_types::sync_goal_types;

use crate::config::BiGrantSettings;
use crate::db::command::{self, CommandDatabase, CommandDatabaseError, WhenNoLocalData};
use crate::db::local::LocalPostgresError;
use role::{Password, RoleName};

/// Why `goalpost bi grant` failed.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// `--role` is not a name PostgreSQL takes as given.
    #[error("invalid --role: {0}")]
    InvalidRole(String),

    /// `--password` cannot be set.
    #[error("invalid --password: {0}")]
    InvalidPassword(String),

    /// The database could not be reached.
    #[error(transparent)]
    Database(#[from] CommandDatabaseError),

    /// The private instance started for the command did not stop cleanly.
    #[error(transparent)]
    Local(LocalPostgresError),

    /// The database has not been migrated to a version with the reporting views.
    #[error(
        "the database has no reporting schema yet; start `goalpost serve` once (it applies the \
         migrations) and run this again"
    )]
    NoReportingSchema,

    /// The role exists and holds more than a read-only role may.
    #[error(
        "role {role:?} cannot be made a read-only reporting role: {reasons}; choose another name"
    )]
    UnsuitableRole {
        /// The role asked for.
        role: String,
        /// What it holds.
        reasons: String,
    },

    /// A statement failed; permission errors usually mean the connecting role
    /// lacks CREATEROLE or does not own the reporting schema.
    #[error(
        "granting failed: {0} (the database user needs CREATEROLE and must own, or be a member \
         of the owner of, schema reporting)"
    )]
    Sql(#[source] sqlx::Error),
}

/// Creates (or grants to) the read-only reporting role named in `settings`,
/// then prints how BI tools connect as it. Running it again changes nothing
/// but a new password, and grants on views added since.
pub async fn grant(settings: &BiGrantSettings) -> Result<(), GrantError> {
    let role = RoleName::parse(&settings.role).map_err(GrantError::InvalidRole)?;
    let password = settings
        .password
        .as_deref()
        .map(Password::parse)
        .transpose()
        .map_err(GrantError::InvalidPassword)?;
    let database_url = settings
        .database_url
        .as_deref()
        .filter(|url| !url.trim().is_empty());
    // A new, empty cluster would hold nothing to grant on.
    let mut database =
        CommandDatabase::open(database_url, &settings.data_dir, WhenNoLocalData::Refuse).await?;
    let granted =
        privileges::grant_read_only(&mut database.connection, &role, password.as_ref()).await;
    let (host, port, temporary) = (
        database.host.clone(),
        database.port,
        database.is_temporary(),
    );
    database.close().await.map_err(GrantError::Local)?;
    let granted = granted?;

    let verb = if granted.created {
        "created"
    } else {
        "updated"
    };
    let where_to = if temporary {
        format!(
            "host {host}, the port on line 4 of {} while `goalpost serve` runs (the private \
             PostgreSQL picks a free port each start)",
            command::lock_file(&settings.data_dir).display()
        )
    } else {
        format!("host {host}, port {port}")
    };
    println!(
        "{verb} role {role}, which reads schema reporting and nothing else; connect with \
         {where_to}, database {}, user {role}",
        granted.database
    );
    if !granted.has_password {
        println!("role {role} has no password yet: run again with --password to log in with one");
    }
    if granted.public_schema_writable {
        println!(
            "note: every role may create tables in schema public of this database (the default \
             before PostgreSQL 15); `revoke create on schema public from public` stops that"
        );
    }
    Ok(())
}
