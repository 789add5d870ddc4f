//! Command-line settings; every flag can also come from a `GOALPOST_*`
//! environment variable (and the database from `DATABASE_URL`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// goalpost keeps a company's social media goals and tells how far along
/// they are, over gRPC.
#[derive(Debug, Parser)]
#[command(name = "goalpost", version, about)]
pub struct Cli {
    /// How log lines are written to stderr.
    #[arg(long, global = true, env = "GOALPOST_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The log line formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gRPC server until SIGINT or SIGTERM.
    Serve(ServeSettings),
}

/// Settings of `goalpost serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeSettings {
    /// The address to listen on for gRPC.
    #[arg(long, env = "GOALPOST_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    /// Where the private PostgreSQL instance keeps its data when DATABASE_URL is not set.
    #[arg(long, env = "GOALPOST_DATA_DIR", default_value = "./goalpost-data")]
    pub data_dir: PathBuf,

    /// The PostgreSQL database to use, as postgres://user:password@host:port/database.
    /// When unset, goalpost runs its own PostgreSQL under --data-dir.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// The most database connections the service holds.
    #[arg(long, env = "GOALPOST_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,

    /// Do not apply pending schema migrations at start-up.
    #[arg(long, env = "GOALPOST_SKIP_MIGRATIONS")]
    pub skip_migrations: bool,
}

impl ServeSettings {
    /// Settings for a server on `listen` using the database at `database_url`,
    /// with every other setting at its default.
    pub fn new(listen: SocketAddr, database_url: Option<String>) -> Self {
        ServeSettings {
            listen,
            data_dir: PathBuf::from("./goalpost-data"),
            database_url,
            db_max_connections: 16,
            skip_migrations: false,
        }
    }

    /// The database URL, treating an empty value as unset.
    pub fn database_url(&self) -> Option<&str> {
        self.database_url
            .as_deref()
            .filter(|url| !url.trim().is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_defaults_to_loopback_and_a_local_data_dir() {
        let cli = Cli::try_parse_from(["goalpost", "serve"]).unwrap();
        let Command::Serve(settings) = cli.command;
        assert_eq!(settings.listen, "127.0.0.1:50051".parse().unwrap());
        assert_eq!(settings.data_dir, PathBuf::from("./goalpost-data"));
    }
}
