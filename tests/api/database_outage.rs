//! PostgreSQL going away under a running service: calls fail fast with
//! UNAVAILABLE, health says NOT_SERVING, and everything comes back by itself
//! when the database does; a crashed private instance is started again.

use std::time::{Duration, Instant};

use goalpost::db::local::{LocalPostgres, LocalPostgresOptions};
use goalpost::pb;
use nix::sys::signal::{Signal, kill};
use sqlx::{Connection, PgConnection};
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::{TestApp, assert_error, start_on};

/// The pool waits this long for a connection before giving up; no call
/// during an outage may take nearly as long.
const POOL_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the service gets to notice an outage or a recovery.
const NOTICE: Duration = Duration::from_secs(10);

fn instance_options(dir: &tempfile::TempDir) -> LocalPostgresOptions {
    LocalPostgresOptions {
        data_dir: dir.path().to_path_buf(),
        // Durable: what was acknowledged before the outage must be there after.
        ephemeral: false,
    }
}

async fn health_status(app: &TestApp) -> ServingStatus {
    HealthClient::new(app.channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health answers whatever the database does")
        .into_inner()
        .status()
}

/// Polls health until it reports `wanted`, failing after [`NOTICE`].
async fn wait_for_health(app: &TestApp, wanted: ServingStatus) {
    let deadline = Instant::now() + NOTICE;
    loop {
        let status = health_status(app).await;
        if status == wanted {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "health still says {status:?}, expected {wanted:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn get_account(app: &TestApp, name: &str) -> Result<pb::Account, tonic::Status> {
    app.audits()
        .get_account(pb::GetAccountRequest {
            name: name.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn a_stopped_database_fails_calls_fast_and_the_service_recovers_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let postgres = LocalPostgres::start(instance_options(&dir)).await.unwrap();
    let port = postgres.port();
    let app = start_on(postgres.database_url("goalpost")).await;
    let account = app
        .create_account(pb::account::Network::Instagram, "before_the_outage")
        .await;
    assert_eq!(health_status(&app).await, ServingStatus::Serving);

    postgres.stop().await.unwrap();
    // The first call meets the broken connections; it too must not wait
    // out the pool.
    let started = Instant::now();
    let status = get_account(&app, &account.name).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        started.elapsed() < POOL_ACQUIRE_TIMEOUT,
        "the first call of the outage took {:?}",
        started.elapsed()
    );
    wait_for_health(&app, ServingStatus::NotServing).await;
    // Once the outage is known, calls are answered without trying.
    for _ in 0..20 {
        let started = Instant::now();
        let status = get_account(&app, &account.name).await.unwrap_err();
        assert_error(&status, Code::Unavailable, "DATABASE_UNAVAILABLE");
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "a call during a known outage took {:?}",
            started.elapsed()
        );
    }

    let postgres = LocalPostgres::start_on_port(instance_options(&dir), port)
        .await
        .unwrap();
    wait_for_health(&app, ServingStatus::Serving).await;
    let deadline = Instant::now() + NOTICE;
    let found = loop {
        match get_account(&app, &account.name).await {
            Ok(found) => break found,
            Err(status) if Instant::now() < deadline => {
                assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("the service did not recover: {status:?}"),
        }
    };
    assert_eq!(
        found, account,
        "what was acknowledged before the outage is there"
    );
    app.create_account(pb::account::Network::Instagram, "after_the_outage")
        .await;
    drop(app);
    postgres.stop().await.unwrap();
}

/// The postmaster's pid, from the lock file of the cluster under `dir`.
fn postmaster_pid(dir: &tempfile::TempDir) -> Option<nix::unistd::Pid> {
    crate::local_postgres::postmaster_pid(&dir.path().join("pgdata"))
}

#[tokio::test]
async fn a_killed_private_postgres_is_started_again_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let postgres = LocalPostgres::start(instance_options(&dir)).await.unwrap();
    let url = postgres.database_url("goalpost");
    let mut connection = PgConnection::connect(&url).await.unwrap();
    sqlx::query("create table kept (id int primary key)")
        .execute(&mut connection)
        .await
        .unwrap();
    sqlx::query("insert into kept values (1)")
        .execute(&mut connection)
        .await
        .unwrap();
    drop(connection);

    let first = postgres.running_pid().unwrap();
    assert_eq!(Some(first), postmaster_pid(&dir));
    kill(first, Signal::SIGKILL).unwrap();

    // Started again on the same port, after crash recovery.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut connection = loop {
        if let Some(pid) = postgres.running_pid()
            && pid != first
            && let Ok(connection) = PgConnection::connect(&url).await
        {
            break connection;
        }
        assert!(
            Instant::now() < deadline,
            "postgresql was not started again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let kept: i32 = sqlx::query_scalar("select id from kept")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(kept, 1, "the committed row survived the crash");
    connection.close().await.unwrap();

    // A stop asked for is not a crash: it stays stopped.
    postgres.stop().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        PgConnection::connect(&url).await.is_err(),
        "a stopped instance was started again"
    );
}

#[tokio::test]
async fn a_service_on_its_own_postgres_recovers_from_a_kill_9_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = goalpost::config::ServeSettings::new("127.0.0.1:0".parse().unwrap(), None);
    settings.data_dir = dir.path().to_path_buf();
    let app = crate::helpers::start_with_settings(settings).await;
    let account = app
        .create_account(pb::account::Network::Youtube, "survives_a_crash")
        .await;
    let crashed = postmaster_pid(&dir).expect("the lock file names the postmaster");
    kill(crashed, Signal::SIGKILL).unwrap();

    // Every call during the crash and the restart is answered quickly,
    // UNAVAILABLE or found, until the service is back on a new postmaster
    // (a backend of the old one may answer a last call before it notices).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let started = Instant::now();
        let answer = get_account(&app, &account.name).await;
        assert!(
            started.elapsed() < POOL_ACQUIRE_TIMEOUT,
            "a call took {:?} during the crash",
            started.elapsed()
        );
        match answer {
            Ok(found) => {
                assert_eq!(found, account);
                if postmaster_pid(&dir).is_some_and(|pid| pid != crashed) {
                    break;
                }
            }
            Err(status) => assert_eq!(status.code(), Code::Unavailable, "{status:?}"),
        }
        assert!(Instant::now() < deadline, "the service did not recover");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_for_health(&app, ServingStatus::Serving).await;
    app.create_account(pb::account::Network::Youtube, "written_after_the_crash")
        .await;
}
