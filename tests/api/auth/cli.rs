//! `goalpost token create | list | revoke`, run as the built binary against
//! the test's database.

use std::process::{Output, Stdio};

use tokio::process::Child;
use tonic::Code;

use super::list_accounts;
use crate::helpers::{TestApp, assert_error, spawn_app_with};

/// Starts `goalpost token <args>` against the app's database.
fn start_token_command(app: &TestApp, args: &[&str]) -> Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_goalpost"))
        .arg("token")
        .args(args)
        .env("DATABASE_URL", app.database_url())
        .env_remove("GOALPOST_DATA_DIR")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the goalpost binary")
}

/// Runs `goalpost token <args>` against the app's database.
async fn token_command(app: &TestApp, args: &[&str]) -> Output {
    start_token_command(app, args)
        .wait_with_output()
        .await
        .expect("the goalpost binary ends")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn a_created_token_is_printed_once_works_and_stops_when_revoked() {
    let app = spawn_app_with(|settings| settings.token_cache_secs = 0).await;
    let created = token_command(
        &app,
        &[
            "create",
            "--name",
            "ci",
            "--scope",
            "read,ingest",
            "--scope",
            "write",
        ],
    )
    .await;
    assert!(created.status.success(), "{}", stderr(&created));
    let token = stdout(&created).trim().to_owned();
    assert!(
        token.starts_with("gpt_"),
        "only the token on stdout: {token}"
    );
    assert!(stderr(&created).contains("shown only this once"));
    list_accounts(&app, Some(&token))
        .await
        .expect("the printed token works");

    let listed = token_command(&app, &["list"]).await;
    assert!(listed.status.success(), "{}", stderr(&listed));
    let table = stdout(&listed);
    let row = table
        .lines()
        .find(|line| line.starts_with("ci "))
        .unwrap_or_else(|| panic!("ci is listed: {table}"));
    assert!(row.contains("read,write,ingest"), "{row}");
    assert!(row.trim_end().ends_with('-'), "not revoked: {row}");
    assert!(!table.contains(&token[4..]), "the secret is never listed");
    let stored: Vec<u8> = sqlx::query_scalar("select token_hash from api_token where name = 'ci'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 32, "only a SHA-256 hash is stored");
    assert!(!String::from_utf8_lossy(&stored).contains(&token[4..]));

    let revoked = token_command(&app, &["revoke", "--name", "ci"]).await;
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    assert!(stdout(&revoked).contains("revoked token ci"));
    assert!(
        stderr(&revoked).contains("no live token remains"),
        "the last token's revocation warns of anonymous mode: {}",
        stderr(&revoked)
    );
    let status = list_accounts(&app, Some(&token)).await.unwrap_err();
    assert_error(&status, Code::Unauthenticated, "TOKEN_REVOKED");

    let listed = stdout(&token_command(&app, &["list"]).await);
    let row = listed.lines().find(|line| line.starts_with("ci ")).unwrap();
    assert!(
        !row.trim_end().ends_with('-'),
        "revoked tokens stay listed: {row}"
    );

    let again = token_command(&app, &["revoke", "--name", "ci"]).await;
    assert!(again.status.success(), "revoking twice is harmless");
    assert!(stdout(&again).contains("revoked already"));
}

#[tokio::test]
async fn bad_token_commands_fail_with_a_clear_message_and_change_nothing() {
    let app = spawn_app_with(|_| {}).await;
    let cases: [(&str, &[&str], &str); 4] = [
        (
            "an unknown scope",
            &["create", "--name", "ci", "--scope", "root"],
            "unknown scope",
        ),
        (
            "a bad name",
            &["create", "--name", "CI bot", "--scope", "read"],
            "not allowed",
        ),
        ("no scope", &["create", "--name", "ci"], "--scope"),
        (
            "revoking a name no token has",
            &["revoke", "--name", "nobody"],
            "no token is named nobody",
        ),
    ];
    for (description, args, expected) in cases {
        let output = token_command(&app, args).await;
        assert!(!output.status.success(), "{description}");
        assert!(
            stderr(&output).contains(expected),
            "{description}: {}",
            stderr(&output)
        );
    }
    assert_eq!(app.count("api_token").await, 0);
}

#[tokio::test]
async fn concurrent_creates_of_one_name_leave_exactly_one_token() {
    let app = spawn_app_with(|settings| settings.token_cache_secs = 0).await;
    let args = ["create", "--name", "twin", "--scope", "read"];
    // Started together, the processes race each other.
    let children: Vec<Child> = (0..4).map(|_| start_token_command(&app, &args)).collect();
    let mut outputs = Vec::new();
    for child in children {
        outputs.push(child.wait_with_output().await.expect("the binary ends"));
    }
    let (won, lost): (Vec<&Output>, Vec<&Output>) =
        outputs.iter().partition(|output| output.status.success());
    assert_eq!(won.len(), 1, "one create wins");
    for output in &lost {
        assert!(
            stderr(output).contains("a token named twin already exists"),
            "{}",
            stderr(output)
        );
        assert!(stdout(output).is_empty(), "no secret for a failed create");
    }
    assert_eq!(app.count("api_token").await, 1, "nothing partial");
    list_accounts(&app, Some(stdout(won[0]).trim()))
        .await
        .expect("the winner's token works");
}
