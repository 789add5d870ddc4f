//! The private PostgreSQL instance behind `goalpost serve` without
//! `DATABASE_URL`, and behind the test suite.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use goalpost::db::local::{LocalPostgres, LocalPostgresError, LocalPostgresOptions};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use sqlx::{Connection, PgConnection};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn data_in_a_private_instance_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    // Not ephemeral: with fsync and full_page_writes on, this really checks
    // that a committed row is durable across a clean restart.
    let options = LocalPostgresOptions {
        // The temporary directory itself, so that a restrictive umask cannot
        // hide it from the `postgres` OS user: start opens up the data dir
        // itself, but not its parents.
        data_dir: dir.path().to_path_buf(),
        ephemeral: false,
    };

    let first = LocalPostgres::start(options.clone()).await.unwrap();
    let mut connection = PgConnection::connect(&first.database_url("goalpost"))
        .await
        .unwrap();
    sqlx::query("create table remembered (id int primary key, note text not null)")
        .execute(&mut connection)
        .await
        .unwrap();
    sqlx::query("insert into remembered values (1, 'kept across restarts')")
        .execute(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
    first.stop().await.unwrap();

    let second = LocalPostgres::start(options).await.unwrap();
    let mut connection = PgConnection::connect(&second.database_url("goalpost"))
        .await
        .unwrap();
    let note: String = sqlx::query_scalar("select note from remembered where id = 1")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(note, "kept across restarts");
    connection.close().await.unwrap();
    second.stop().await.unwrap();
}

#[tokio::test]
async fn a_second_instance_on_the_same_data_dir_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let options = LocalPostgresOptions {
        data_dir: dir.path().to_path_buf(),
        ephemeral: true,
    };

    let running = LocalPostgres::start(options.clone()).await.unwrap();
    let error = LocalPostgres::start(options)
        .await
        .expect_err("a second instance on a data dir in use must not start");
    // This process started the running one and is alive: the error says so.
    assert!(
        matches!(error, LocalPostgresError::InUse { owner_pid, .. }
            if owner_pid == std::process::id() as i32),
        "unexpected error: {error}"
    );
    assert!(
        error.to_string().contains(&format!(
            "in use by the PostgreSQL of goalpost process {}",
            std::process::id()
        )),
        "unexpected message: {error}"
    );

    // The refused start must leave the running instance alone.
    let mut connection = PgConnection::connect(&running.database_url("goalpost"))
        .await
        .unwrap();
    let one: i32 = sqlx::query_scalar("select 1")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(one, 1);
    connection.close().await.unwrap();
    running.stop().await.unwrap();
}

/// Where [`hold_an_instance_until_killed`] starts its instance; it does
/// nothing without it.
const HOLDER_DATA_DIR: &str = "GOALPOST_TEST_HOLDER_DATA_DIR";
/// The line it prints once its instance is up and holds a row.
const HOLDER_READY: &str = "holder: instance ready";

/// Not a test of its own: the goalpost stand-in that
/// [`a_server_left_by_a_killed_goalpost_is_stopped_and_replaced`] runs as a
/// child process (this test binary, filtered to this test) and kills.
#[tokio::test]
#[ignore = "run as a child process by a_server_left_by_a_killed_goalpost_is_stopped_and_replaced"]
async fn hold_an_instance_until_killed() {
    let Some(data_dir) = std::env::var_os(HOLDER_DATA_DIR) else {
        return;
    };
    let instance = LocalPostgres::start(LocalPostgresOptions {
        data_dir: data_dir.into(),
        ephemeral: true,
    })
    .await
    .unwrap();
    let mut connection = PgConnection::connect(&instance.database_url("goalpost"))
        .await
        .unwrap();
    sqlx::query("create table survivor (note text not null)")
        .execute(&mut connection)
        .await
        .unwrap();
    sqlx::query("insert into survivor values ('written before the crash')")
        .execute(&mut connection)
        .await
        .unwrap();
    println!("{HOLDER_READY}");
    std::future::pending::<()>().await;
}

#[tokio::test]
async fn a_server_left_by_a_killed_goalpost_is_stopped_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    // The orphaned server is reparented to this process rather than to init:
    // then its process group is not orphaned, so the kernel does not send it
    // SIGCONT (below it is stopped on purpose), and it can be reaped here.
    nix::sys::prctl::set_child_subreaper(true).unwrap();

    let mut holder = Command::new(std::env::current_exe().unwrap())
        .args([
            "local_postgres::hold_an_instance_until_killed",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(HOLDER_DATA_DIR, dir.path())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(holder.stdout.take().unwrap()).lines();
    while let Some(line) = lines.next_line().await.unwrap() {
        if line == HOLDER_READY {
            break;
        }
    }
    let postmaster =
        postmaster_pid(&dir.path().join("pgdata")).expect("the holder's server holds the data dir");

    // Stopped, the server cannot act on the SIGINT the kernel sends it when
    // its goalpost dies: this is the server that is slow to exit, or stuck.
    kill(postmaster, Signal::SIGSTOP).unwrap();
    let resume = Resume(postmaster);
    kill(Pid::from_raw(holder.id().unwrap() as i32), Signal::SIGKILL).unwrap();
    holder.wait().await.unwrap();
    assert_eq!(
        postmaster_pid(&dir.path().join("pgdata")),
        Some(postmaster),
        "the orphaned server still holds the data dir"
    );

    let options = LocalPostgresOptions {
        data_dir: dir.path().to_path_buf(),
        ephemeral: true,
    };
    let restart = tokio::spawn(LocalPostgres::start(options));
    // Before the fix this start failed at once with AlreadyRunning.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !restart.is_finished(),
        "the start must wait for the orphaned server: {:?}",
        restart.await
    );
    drop(resume);
    let restarted = restart.await.unwrap().expect("the new server starts");
    // The orphan exited (it is our child now, so reaping it is safe).
    waitpid(postmaster, None).unwrap();

    let mut connection = PgConnection::connect(&restarted.database_url("goalpost"))
        .await
        .unwrap();
    let note: String = sqlx::query_scalar("select note from survivor")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(note, "written before the crash");
    connection.close().await.unwrap();
    restarted.stop().await.unwrap();
}

/// Continues a stopped process when dropped, also when the test fails, so
/// no stopped server outlives the test.
struct Resume(Pid);

impl Drop for Resume {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGCONT);
    }
}

/// The postmaster's pid as the cluster's lock file names it; `None` while
/// there is none, or a starting server is replacing it.
pub(crate) fn postmaster_pid(pgdata: &Path) -> Option<Pid> {
    let lock = std::fs::read_to_string(pgdata.join("postmaster.pid")).ok()?;
    Some(Pid::from_raw(lock.lines().next()?.trim().parse().ok()?))
}

#[tokio::test]
async fn an_oversized_log_is_rotated_when_an_instance_starts() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("postgres.log");
    // Over the 10 MiB limit.
    let old = "an old line of an earlier run\n".repeat(400_000);
    std::fs::write(&log, &old).unwrap();
    std::fs::write(dir.path().join("postgres.log.3"), "the oldest kept log").unwrap();

    let instance = LocalPostgres::start(LocalPostgresOptions {
        data_dir: dir.path().to_path_buf(),
        ephemeral: true,
    })
    .await
    .unwrap();

    let rotated = std::fs::read_to_string(dir.path().join("postgres.log.1")).unwrap();
    assert_eq!(rotated.len(), old.len(), "the old log moved whole");
    let current = std::fs::read_to_string(&log).unwrap();
    assert!(
        !current.contains("an old line"),
        "the current log starts afresh"
    );
    assert!(
        current.contains("database system is ready to accept connections"),
        "this run's lines go to the current log: {current}"
    );
    // The one beyond the three kept is gone; nothing else was there to shift.
    assert!(!dir.path().join("postgres.log.3").exists());
    assert!(!dir.path().join("postgres.log.2").exists());
    instance.stop().await.unwrap();
}
