//! `spawn_app`: a real server over a fresh database, and assertions on rich
//! error details.

use std::path::PathBuf;
use std::sync::OnceLock;

use goalpost::app::Application;
use goalpost::config::{LogFormat, ServeSettings};
use goalpost::db::local::{LocalPostgres, LocalPostgresOptions};
use goalpost::db::pool::MIGRATOR;
use goalpost::pb;
use goalpost::pb::audit_service_client::AuditServiceClient;
use goalpost::pb::goal_service_client::GoalServiceClient;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;
use uuid::Uuid;

/// The PostgreSQL server the run uses, and a migrated template database that
/// each test's database is copied from (much faster than migrating each).
struct TestDatabaseServer {
    /// A URL with `{database}` where the database name goes.
    url_pattern: String,
    template: String,
    /// Kept alive for the whole run; the server dies with the process.
    _local: Option<LocalPostgres>,
}

impl TestDatabaseServer {
    fn url(&self, database: &str) -> String {
        self.url_pattern.replace("{database}", database)
    }
}

const DATABASE_PLACEHOLDER: &str = "{database}";

static SERVER: OnceLock<TestDatabaseServer> = OnceLock::new();

fn server() -> &'static TestDatabaseServer {
    SERVER.get_or_init(|| {
        // Each test has its own runtime; set-up gets one of its own on a plain
        // thread, since nothing here may be tied to one test's runtime.
        std::thread::spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for test set-up")
                .block_on(start_server())
        })
        .join()
        .expect("test database set-up panicked")
    })
}

async fn start_server() -> TestDatabaseServer {
    let (url_pattern, local) = match std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
    {
        Some(url) => {
            let mut pattern = url::Url::parse(&url).expect("DATABASE_URL must be a URL");
            pattern.set_path(DATABASE_PLACEHOLDER);
            (pattern.to_string(), None)
        }
        None => {
            let local = LocalPostgres::start(LocalPostgresOptions {
                data_dir: private_data_dir(),
                ephemeral: true,
            })
            .await
            .expect("start a private PostgreSQL for the tests (or set DATABASE_URL)");
            (local.database_url(DATABASE_PLACEHOLDER), Some(local))
        }
    };
    // URL builders percent-encode the braces of the placeholder.
    let url_pattern = url_pattern.replace("%7Bdatabase%7D", DATABASE_PLACEHOLDER);
    let template = format!("goalpost_template_{}", Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&url_pattern.replace("{database}", "postgres"))
        .await
        .expect("connect to the test PostgreSQL server");
    admin
        .execute(format!(r#"create database "{template}""#).as_str())
        .await
        .expect("create the template database");
    let pool = PgPool::connect(&url_pattern.replace("{database}", &template))
        .await
        .expect("connect to the template database");
    MIGRATOR
        .run(&pool)
        .await
        .expect("migrate the template database");
    // A template must have no other connections when it is copied.
    pool.close().await;
    TestDatabaseServer {
        url_pattern,
        template,
        _local: local,
    }
}

/// A fresh data dir for this run's private instance under cargo's scratch
/// space, after removing those of earlier runs that are no longer running.
fn private_data_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("goalpost-test-pg");
    if let Ok(entries) = std::fs::read_dir(&root) {
        for entry in entries.flatten() {
            let pid = entry.file_name().to_string_lossy().parse::<u32>().ok();
            let alive = pid.is_some_and(|pid| PathBuf::from(format!("/proc/{pid}")).exists());
            if !alive {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    root.join(std::process::id().to_string())
}

/// A running server and a client channel to it.
pub struct TestApp {
    /// A channel to the server.
    pub channel: Channel,
    /// The address the server listens on.
    address: std::net::SocketAddr,
    /// The address of the server's Prometheus endpoint, when it has one.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// A pool on the test's database, for checking what is stored.
    pub pool: PgPool,
    /// The server's change hub, to see how many watchers it holds.
    pub hub: goalpost::changes::hub::Hub,
    database_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

/// Starts a server over a new database copied from the migrated template.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server over a new database copied from the migrated template,
/// with the settings changed by `configure`.
pub async fn spawn_app_with(configure: impl FnOnce(&mut ServeSettings)) -> TestApp {
    let database_url = fresh_database().await;
    start_on_with(database_url, configure).await
}

/// A new database copied from the migrated template, for tests that put
/// something in it before a server starts; returns its URL.
pub async fn fresh_database() -> String {
    if std::env::var_os("TEST_LOG").is_some() {
        goalpost::telemetry::init(LogFormat::Text);
    }
    let server = server();
    let database = format!("goalpost_test_{}", Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&server.url("postgres"))
        .await
        .expect("connect as admin");
    admin
        .execute(
            format!(
                r#"create database "{database}" template "{}""#,
                server.template
            )
            .as_str(),
        )
        .await
        .expect("create the test database");
    admin.close().await.ok();
    server.url(&database)
}

/// Starts a server over the database at `database_url`, migrating it.
pub async fn start_on(database_url: String) -> TestApp {
    start_on_with(database_url, |_| {}).await
}

/// Starts a server over the database at `database_url`, migrating it, with
/// the settings changed by `configure`.
pub async fn start_on_with(
    database_url: String,
    configure: impl FnOnce(&mut ServeSettings),
) -> TestApp {
    let mut settings = ServeSettings::new("127.0.0.1:0".parse().unwrap(), Some(database_url));
    configure(&mut settings);
    start_with(settings).await
}

/// Starts a server with `settings`, migrating its database. Without a
/// database URL it runs its own PostgreSQL under `settings.data_dir`, and
/// the TestApp cannot start replicas of it.
pub async fn start_with_settings(settings: ServeSettings) -> TestApp {
    start_with(settings).await
}

async fn start_with(settings: ServeSettings) -> TestApp {
    let database_url = settings.database_url.clone().unwrap_or_default();
    let app = Application::build(&settings)
        .await
        .expect("build the application");
    let address = app.local_addr();
    let metrics_addr = app.metrics_addr();
    let pool = app.pool().clone();
    let hub = app.hub().clone();
    let (shutdown, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        app.run_until_stopped(async {
            let _ = stopped.await;
        })
        .await
        .expect("the server runs");
    });
    // A server on every interface (0.0.0.0) is reached through loopback.
    let address = if address.ip().is_unspecified() {
        std::net::SocketAddr::from(([127, 0, 0, 1], address.port()))
    } else {
        address
    };
    let channel = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .expect("connect to the test server");
    TestApp {
        channel,
        address,
        metrics_addr,
        pool,
        hub,
        database_url,
        shutdown: Some(shutdown),
        server: Some(server),
    }
}

impl TestApp {
    /// The address the server listens on.
    pub fn address(&self) -> std::net::SocketAddr {
        self.address
    }

    /// The server's URL, as `goalpost demo --server` takes it.
    pub fn server_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// A client of AuditService.
    pub fn audits(&self) -> AuditServiceClient<Channel> {
        AuditServiceClient::new(self.channel.clone())
    }

    /// A client of GoalService.
    pub fn goals(&self) -> GoalServiceClient<Channel> {
        GoalServiceClient::new(self.channel.clone())
    }

    /// The URL of the test's database, with the administrator's credentials,
    /// for tests that open connections of their own (as another role, say).
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// A second server on the same database, as another replica would be.
    pub async fn replica(&self) -> TestApp {
        start_on(self.database_url.clone()).await
    }

    /// Stops the server as SIGTERM would, waiting until it has stopped.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("the server stops cleanly");
        }
    }

    /// Stops the server gracefully and starts a new one on the same database,
    /// as a restart of the service would.
    pub async fn restart(mut self) -> TestApp {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("the server stops cleanly");
        }
        start_on(self.database_url.clone()).await
    }

    /// Creates an account on `network` with `handle` and an owner and purpose.
    pub async fn create_account(&self, network: pb::account::Network, handle: &str) -> pb::Account {
        self.audits()
            .create_account(pb::CreateAccountRequest {
                account: Some(pb::Account {
                    network: network as i32,
                    handle: handle.to_owned(),
                    owner: "social team".into(),
                    purpose: "brand".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .expect("create an account")
            .into_inner()
    }

    /// Creates an audit by auditor "ana" titled `title` with `entries`.
    pub async fn create_audit(&self, title: &str, entries: Vec<pb::AuditEntry>) -> pb::Audit {
        self.audits()
            .create_audit(pb::CreateAuditRequest {
                audit: Some(pb::Audit {
                    title: title.into(),
                    auditor: "ana".into(),
                    entries,
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .expect("create an audit")
            .into_inner()
    }

    /// How many rows `table` holds, to check that failed writes left nothing.
    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("select count(*) from {table}"))
            .fetch_one(&self.pool)
            .await
            .expect("count rows")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Asserts the status has `code` and an ErrorInfo with `reason` in the
/// goalpost domain.
pub fn assert_error(status: &Status, code: Code, reason: &str) {
    assert_eq!(status.code(), code, "unexpected status: {status:?}");
    let details = status.get_error_details();
    let info = details
        .error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo in {status:?}"));
    assert_eq!(info.reason, reason, "{status:?}");
    assert_eq!(info.domain, "goalpost");
}

/// Asserts INVALID_ARGUMENT whose BadRequest names exactly `fields`, in order.
pub fn assert_violations(status: &Status, fields: &[&str]) {
    assert_error(status, Code::InvalidArgument, "INVALID_ARGUMENT");
    let details = status.get_error_details();
    let found: Vec<&str> = details
        .bad_request()
        .unwrap_or_else(|| panic!("no BadRequest in {status:?}"))
        .field_violations
        .iter()
        .map(|violation| violation.field.as_str())
        .collect();
    assert_eq!(found, fields, "{status:?}");
}

/// The PreconditionFailure violation types of a FAILED_PRECONDITION status.
pub fn precondition_types(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    status
        .get_error_details()
        .precondition_failure()
        .unwrap_or_else(|| panic!("no PreconditionFailure in {status:?}"))
        .violations
        .iter()
        .map(|violation| violation.r#type.clone())
        .collect()
}

/// Every item of a paged List call: `fetch` gets each page token in turn
/// (empty first) and returns that page's items and next token. Checks that
/// no page exceeds a positive `page_size`; returns the items and how many
/// pages it took.
pub async fn page_through<T, Fetch, Page>(page_size: i32, mut fetch: Fetch) -> (Vec<T>, usize)
where
    Fetch: FnMut(String) -> Page,
    Page: std::future::Future<Output = (Vec<T>, String)>,
{
    let mut items = Vec::new();
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let (page, next_page_token) = fetch(page_token).await;
        pages += 1;
        if page_size > 0 {
            assert!(
                page.len() <= page_size as usize,
                "page {pages} holds {} items",
                page.len()
            );
        }
        items.extend(page);
        if next_page_token.is_empty() {
            return (items, pages);
        }
        page_token = next_page_token;
    }
}
