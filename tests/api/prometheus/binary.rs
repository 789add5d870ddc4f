//! The `goalpost` binary with `--log-format json` and `--metrics-addr`: a
//! process of its own, so its counts are exact.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tonic::transport::Channel;

use super::scrape::{Scrape, Wanted};
use super::{
    AUDITS, HEALTH, INGESTED, METRICS, REQUESTS, call, check_health, get_malformed_account,
    write_impressions,
};
use crate::helpers::spawn_app;

/// The JSON object of each stderr line of the binary, read until it ends.
type LogLines = tokio::task::JoinHandle<Vec<serde_json::Value>>;

#[tokio::test]
async fn the_binary_counts_exactly_and_logs_one_json_object_per_line() {
    let database = spawn_app().await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_goalpost"))
        .args(["--log-format", "json", "serve", "--no-snapshots"])
        .args(["--listen", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"])
        .env("DATABASE_URL", database.database_url())
        .env_remove("GOALPOST_LOG")
        .env_remove("RUST_LOG")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start goalpost serve");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let (mut grpc, mut metrics, mut seen) = (None, None, Vec::new());
    while grpc.is_none() || metrics.is_none() {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("goalpost starts within a minute")
            .expect("read stderr")
            .unwrap_or_else(|| panic!("goalpost exited while starting: {seen:#?}"));
        let object = json_line(&line);
        let address = || -> SocketAddr {
            object["address"]
                .as_str()
                .expect("an address")
                .parse()
                .expect("a socket address")
        };
        match object["message"].as_str() {
            Some("goalpost is serving gRPC") => grpc = Some(address()),
            Some("goalpost is serving Prometheus metrics at /metrics") => metrics = Some(address()),
            _ => {}
        }
        seen.push(object);
    }
    let rest: LogLines = tokio::spawn(async move {
        let mut rest = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            rest.push(json_line(&line));
        }
        rest
    });
    let (grpc, metrics) = (grpc.unwrap(), metrics.unwrap());
    let channel = Channel::from_shared(format!("http://{grpc}"))
        .unwrap()
        .connect()
        .await
        .expect("connect to the binary");
    check_health(channel.clone()).await;
    get_malformed_account(channel.clone()).await;
    write_impressions(channel.clone(), 2).await;

    let scrape = Scrape::of(metrics).await;
    let cases: [(&str, Wanted, f64); 4] = [
        (REQUESTS, &call(HEALTH, "Check", "OK"), 1.0),
        (
            REQUESTS,
            &call(AUDITS, "GetAccount", "INVALID_ARGUMENT"),
            1.0,
        ),
        (REQUESTS, &call(METRICS, "WriteObservations", "OK"), 1.0),
        (INGESTED, &[("method", "WriteObservations")], 2.0),
    ];
    for (name, labels, expected) in cases {
        assert_eq!(scrape.value(name, labels), expected, "{name} {labels:?}");
    }

    let pid = nix::unistd::Pid::from_raw(child.id().expect("a running child") as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("send SIGTERM");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("goalpost stops within 30 s of SIGTERM")
        .expect("wait for goalpost");
    assert!(status.success(), "{status}");
    seen.extend(rest.await.expect("the log reader"));
    // Every call's span travels with its line: method, caller and status.
    let refused = seen
        .iter()
        .find(|line| {
            line["message"] == "call finished"
                && line["span"]["method"] == "/goalpost.v1.AuditService/GetAccount"
        })
        .unwrap_or_else(|| panic!("no line for the refused call in {seen:#?}"));
    assert_eq!(refused["level"], "INFO");
    assert_eq!(refused["span"]["status"], "InvalidArgument");
    assert!(refused["latency_ms"].is_number(), "{refused}");
    assert!(refused["timestamp"].is_string(), "{refused}");
    assert!(
        seen.iter().any(|line| line["message"] == "stopped"),
        "{seen:#?}"
    );
}

/// One log line as a JSON object; anything else fails the test.
fn json_line(line: &str) -> serde_json::Value {
    let value: serde_json::Value = serde_json::from_str(line)
        .unwrap_or_else(|error| panic!("not a JSON log line ({error}): {line}"));
    assert!(value.is_object(), "not a JSON object: {line}");
    value
}
