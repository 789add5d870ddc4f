//! The private PostgreSQL instance behind `goalpost serve` without
//! `DATABASE_URL`, and behind the test suite.

use goalpost::db::local::{LocalPostgres, LocalPostgresOptions};
use sqlx::{Connection, PgConnection};

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
    let message = error.to_string();
    assert!(
        message.contains("another PostgreSQL instance is using the data dir"),
        "unexpected error: {message}"
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
