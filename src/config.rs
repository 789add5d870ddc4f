//! Command-line settings; every flag can also come from a `GOALPOST_*`
//! environment variable (and the database from `DATABASE_URL`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::api::pagination::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PAGE_SIZE_CEILING, PageSizes};
use crate::auth::cli::TokenArgs;
use crate::auth::verify::{AuthPolicy, DEFAULT_CACHE_TTL};
use crate::observations::model::MAX_OBSERVATIONS_PER_MESSAGE;
use crate::observations::service::StreamLimits;
use crate::tls::TlsSettings;

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
    /// Give BI tools access to the `reporting` schema.
    Bi(BiArgs),
    /// Create, list and revoke API tokens.
    Token(TokenArgs),
    /// Load a realistic demo data set into a running goalpost through its API.
    Demo(DemoSettings),
}

/// `goalpost bi`: access for BI tools.
#[derive(Debug, Args)]
pub struct BiArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: BiCommand,
}

/// The subcommands of `goalpost bi`.
#[derive(Debug, Subcommand)]
pub enum BiCommand {
    /// Create a read-only role (or grant to an existing one) that reads the
    /// `reporting` schema and nothing else.
    Grant(BiGrantSettings),
}

/// Settings of `goalpost bi grant`.
#[derive(Debug, Clone, Args)]
pub struct BiGrantSettings {
    /// The role to create or grant to.
    #[arg(long)]
    pub role: String,

    /// The role's password, set when given (a new role without one cannot log
    /// in with a password).
    #[arg(long, env = "GOALPOST_BI_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,

    /// The private PostgreSQL's data directory, used when DATABASE_URL is not set.
    #[arg(long, env = "GOALPOST_DATA_DIR", default_value = "./goalpost-data")]
    pub data_dir: PathBuf,

    /// The PostgreSQL database goalpost uses; when unset, the private instance under --data-dir.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

/// Settings of `goalpost demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoSettings {
    /// The running goalpost to load the demo into.
    #[arg(
        long,
        env = "GOALPOST_SERVER",
        default_value = "http://127.0.0.1:50051"
    )]
    pub server: String,

    /// The API token to call it with (scopes read and write, and ingest
    /// for the observations); not needed while the server is in anonymous
    /// mode.
    #[arg(long, env = "GOALPOST_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// Settings of `goalpost serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeSettings {
    /// The address to listen on for gRPC.
    #[arg(long, env = "GOALPOST_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    /// TLS and mutual TLS on the gRPC listener.
    #[command(flatten)]
    pub tls: TlsSettings,

    /// Where to serve Prometheus metrics, at /metrics over plain HTTP, such
    /// as 127.0.0.1:9090. Off when unset.
    #[arg(long, env = "GOALPOST_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

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

    /// The most StreamObservations calls that load at once; more are refused
    /// at once with RESOURCE_EXHAUSTED. Each holds a database connection
    /// while it loads, so this must stay below --db-max-connections.
    /// Defaults to half of them.
    #[arg(long, env = "GOALPOST_MAX_STREAMS")]
    pub max_streams: Option<u32>,

    /// Seconds a StreamObservations call may go without sending a chunk
    /// before it is ended with DEADLINE_EXCEEDED and nothing of it is stored.
    #[arg(long, env = "GOALPOST_STREAM_IDLE_TIMEOUT_SECS", default_value_t = 30)]
    pub stream_idle_timeout_secs: u64,

    /// Do not apply pending schema migrations at start-up.
    #[arg(long, env = "GOALPOST_SKIP_MIGRATIONS")]
    pub skip_migrations: bool,

    /// How long a create's request_id is remembered, as a number and a unit
    /// (s, m, h or d; a bare number is hours). A retry after that is a new request.
    #[arg(
        long,
        env = "GOALPOST_REQUEST_ID_RETENTION",
        default_value = "24h",
        value_parser = parse_retention
    )]
    pub request_id_retention: Duration,

    /// Do not record daily progress snapshots in this process (another
    /// replica, or none, records them). Benchmarks use it to keep the
    /// catch-up of many new goals out of their figures.
    #[arg(long, env = "GOALPOST_NO_SNAPSHOTS")]
    pub no_snapshots: bool,

    /// Seconds a stopping server lets calls in flight finish (SIGTERM or
    /// SIGINT); calls still running then are cut off and roll back.
    #[arg(long, env = "GOALPOST_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,

    /// Seconds a unary call may run when its client sets no deadline
    /// (`grpc-timeout`); it then ends with DEADLINE_EXCEEDED, and its
    /// database statements are stopped. A client's own deadline always
    /// applies, shorter or longer. Streaming calls have no default.
    #[arg(long, env = "GOALPOST_CALL_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub call_timeout_secs: u64,

    /// The largest request message accepted, in MiB; larger ones are
    /// RESOURCE_EXHAUSTED (MESSAGE_TOO_LARGE).
    #[arg(long, env = "GOALPOST_MAX_MESSAGE_MIB", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub max_message_mib: u32,

    /// The most observations one WriteObservations call or stream chunk may
    /// hold; more is INVALID_ARGUMENT.
    #[arg(long, env = "GOALPOST_MAX_ROWS_PER_MESSAGE", default_value_t = MAX_OBSERVATIONS_PER_MESSAGE as u32, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_rows_per_message: u32,

    /// The page size of a list call that asks for none (page_size 0).
    #[arg(long, env = "GOALPOST_DEFAULT_PAGE_SIZE", default_value_t = DEFAULT_PAGE_SIZE, value_parser = clap::value_parser!(i64).range(1..=PAGE_SIZE_CEILING))]
    pub default_page_size: i64,

    /// The largest page a list call gets; a larger page_size is reduced to
    /// it (AIP-158). At most 10,000.
    #[arg(long, env = "GOALPOST_MAX_PAGE_SIZE", default_value_t = MAX_PAGE_SIZE, value_parser = clap::value_parser!(i64).range(1..=PAGE_SIZE_CEILING))]
    pub max_page_size: i64,

    /// The most calls served at once (health and reflection aside); more are
    /// refused at once with RESOURCE_EXHAUSTED rather than queued.
    #[arg(long, env = "GOALPOST_MAX_CONCURRENT_CALLS", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_calls: u32,
    /// Accept calls without a token while no API token exists even when
    /// listening beyond loopback. Without it, such a server refuses to start
    /// (and refuses tokenless calls should every token be revoked later).
    #[arg(long, env = "GOALPOST_INSECURE_ALLOW_ANONYMOUS")]
    pub insecure_allow_anonymous: bool,

    /// Seconds a verified token (and whether any token exists) is
    /// remembered before the database is asked again: a revoked token
    /// stops working, and a first token ends anonymous mode, within this
    /// long on every replica. 0 asks on every call; at most 60.
    #[arg(
        long,
        env = "GOALPOST_TOKEN_CACHE_SECS",
        default_value_t = DEFAULT_CACHE_TTL.as_secs(),
        value_parser = clap::value_parser!(u64).range(0..=60)
    )]
    pub token_cache_secs: u64,
}

/// The default of `--request-id-retention`.
pub const DEFAULT_REQUEST_ID_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// Reads a retention such as `24h`, `90m`, `7d` or `36` (hours).
fn parse_retention(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| "expected a whole number and a unit, such as 24h, 90m or 7d".to_owned())?;
    let unit_secs = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "" | "h" => 60 * 60,
        "d" => 24 * 60 * 60,
        other => return Err(format!("unknown unit {other:?}: use s, m, h or d")),
    };
    match number.checked_mul(unit_secs) {
        Some(0) => Err("must be longer than zero, or retries could not be recognised".to_owned()),
        Some(secs) => Ok(Duration::from_secs(secs)),
        None => Err("is too long".to_owned()),
    }
}

impl ServeSettings {
    /// Settings for a server on `listen` using the database at `database_url`,
    /// with every other setting at its default.
    pub fn new(listen: SocketAddr, database_url: Option<String>) -> Self {
        ServeSettings {
            listen,
            tls: TlsSettings::default(),
            metrics_addr: None,
            data_dir: PathBuf::from("./goalpost-data"),
            database_url,
            db_max_connections: 16,
            max_streams: None,
            stream_idle_timeout_secs: 30,
            skip_migrations: false,
            request_id_retention: DEFAULT_REQUEST_ID_RETENTION,
            no_snapshots: false,
            shutdown_grace_secs: 10,
            call_timeout_secs: 30,
            max_concurrent_calls: 256,
            max_message_mib: 16,
            max_rows_per_message: MAX_OBSERVATIONS_PER_MESSAGE as u32,
            default_page_size: DEFAULT_PAGE_SIZE,
            max_page_size: MAX_PAGE_SIZE,
            insecure_allow_anonymous: false,
            token_cache_secs: DEFAULT_CACHE_TTL.as_secs(),
        }
    }

    /// How the server authenticates calls.
    pub fn auth_policy(&self) -> AuthPolicy {
        AuthPolicy {
            anonymous_allowed: crate::auth::anonymous_allowed(
                self.listen,
                self.insecure_allow_anonymous,
            ),
            cache_ttl: Duration::from_secs(self.token_cache_secs),
        }
    }

    /// The largest request message accepted, in bytes.
    pub fn max_message_bytes(&self) -> usize {
        self.max_message_mib as usize * 1024 * 1024
    }

    /// The budget of a unary call whose client sets no deadline.
    pub fn call_timeout(&self) -> Duration {
        Duration::from_secs(self.call_timeout_secs)
    }

    /// The stream limits these settings ask for, or why they cannot work:
    /// streams hold connections, so at least one connection must stay free
    /// for everything else.
    pub fn stream_limits(&self) -> Result<StreamLimits, String> {
        if self.db_max_connections < 2 {
            return Err(format!(
                "--db-max-connections is {}: goalpost needs at least 2, one of them kept free of streams",
                self.db_max_connections
            ));
        }
        let max_streams = self
            .max_streams
            .unwrap_or((self.db_max_connections / 2).max(1));
        if max_streams == 0 || max_streams >= self.db_max_connections {
            return Err(format!(
                "--max-streams is {max_streams}: it must be at least 1 and below --db-max-connections ({})",
                self.db_max_connections
            ));
        }
        if self.stream_idle_timeout_secs == 0 {
            return Err("--stream-idle-timeout-secs must be at least 1".to_owned());
        }
        Ok(StreamLimits {
            max_rows_per_message: self.max_rows_per_message as usize,
            max_message_bytes: self.max_message_bytes(),
            max_concurrent: max_streams as usize,
            idle_timeout: Duration::from_secs(self.stream_idle_timeout_secs),
        })
    }

    /// The page sizes these settings ask for, or why they cannot work.
    pub fn page_sizes(&self) -> Result<PageSizes, String> {
        if self.default_page_size > self.max_page_size {
            return Err(format!(
                "--default-page-size ({}) must not exceed --max-page-size ({})",
                self.default_page_size, self.max_page_size
            ));
        }
        Ok(PageSizes {
            default: self.default_page_size,
            max: self.max_page_size,
        })
    }

    /// Whether this process records daily progress snapshots.
    pub fn record_snapshots(&self) -> bool {
        !self.no_snapshots
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
        let Command::Serve(settings) = cli.command else {
            panic!("serve parses as serve");
        };
        assert_eq!(settings.listen, "127.0.0.1:50051".parse().unwrap());
        assert_eq!(settings.data_dir, PathBuf::from("./goalpost-data"));
        assert_eq!(settings.request_id_retention, DEFAULT_REQUEST_ID_RETENTION);
    }

    #[test]
    fn retentions_read_as_a_number_and_a_unit() {
        let cases = [
            ("a bare number is hours", "36", Ok(36 * 3600)),
            ("seconds", "90s", Ok(90)),
            ("minutes", "90m", Ok(90 * 60)),
            ("hours", "24h", Ok(24 * 3600)),
            ("days", "7d", Ok(7 * 24 * 3600)),
            ("space around is ignored", " 2h ", Ok(2 * 3600)),
            ("zero keeps nothing, so it is refused", "0h", Err(())),
            ("an unknown unit", "3w", Err(())),
            ("no number", "h", Err(())),
            ("a fraction", "1.5h", Err(())),
            ("a negative number", "-1h", Err(())),
            ("an overflow", "99999999999999999d", Err(())),
        ];
        for (description, input, expected) in cases {
            let parsed = parse_retention(input)
                .map(|duration| duration.as_secs())
                .map_err(|_| ());
            assert_eq!(parsed, expected, "{description}: {input:?}");
        }
    }

    #[test]
    fn streams_default_to_half_the_pool_and_must_leave_a_connection_free() {
        let mut settings = ServeSettings::new("127.0.0.1:0".parse().unwrap(), None);
        assert_eq!(settings.stream_limits().unwrap().max_concurrent, 8);
        settings.db_max_connections = 2;
        assert_eq!(settings.stream_limits().unwrap().max_concurrent, 1);
        settings.max_streams = Some(2);
        assert!(
            settings.stream_limits().is_err(),
            "as many streams as connections"
        );
        settings.db_max_connections = 1;
        settings.max_streams = None;
        assert!(settings.stream_limits().is_err(), "no connection to spare");
    }

    #[test]
    fn the_default_page_size_must_not_exceed_the_largest() {
        let mut settings = ServeSettings::new("127.0.0.1:0".parse().unwrap(), None);
        assert_eq!(settings.page_sizes(), Ok(PageSizes::default()));
        settings.max_page_size = 10;
        settings.default_page_size = 10;
        assert_eq!(
            settings.page_sizes(),
            Ok(PageSizes {
                default: 10,
                max: 10
            })
        );
        settings.default_page_size = 11;
        assert!(settings.page_sizes().is_err());
    }
}
