//! Odd input through real gRPC calls: a NUL byte in every text field, in
//! filter literals and in forged page tokens (PostgreSQL text cannot hold
//! NUL), and numbers beyond the ±1e15 bound, whose sums would overflow in
//! PostgreSQL and leave a day that no read or replacement could touch.

use chrono::{DateTime, TimeDelta, Utc};
use goalpost::pb;
use goalpost::pb::account::Network;
use prost_types::{FieldMask, Timestamp};
use tonic::Status;

use crate::helpers::{TestApp, assert_violations};
use crate::metrics::metric_client;

mod found_by_fuzzing;
mod numbers;
mod text;

fn ts(time: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    }
}

/// Midnight UTC a few days ago: a day every observation check accepts.
fn recent_day() -> DateTime<Utc> {
    let day = (Utc::now() - TimeDelta::days(3)).date_naive();
    day.and_hms_opt(0, 0, 0).unwrap().and_utc()
}

fn obs(metric_key: &str, at: DateTime<Utc>, value: f64) -> pb::Observation {
    pb::Observation {
        metric_key: metric_key.to_owned(),
        observed_at: Some(ts(at)),
        value,
        ..Default::default()
    }
}

fn entry(account: &str, metrics: &[(&str, f64)]) -> pb::AuditEntry {
    pb::AuditEntry {
        account: account.to_owned(),
        metrics: metrics.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
        ..Default::default()
    }
}

/// A list method of the API.
#[derive(Debug, Clone, Copy)]
enum List {
    Accounts,
    Audits,
    Metrics,
    Observations,
}

/// One call of a method that takes caller text, as data for the tables.
enum Call {
    CreateAccount(pb::Account),
    /// Changes to the fixture account, and the one path of the mask.
    UpdateAccount(pb::Account, &'static str),
    CreateAudit(pb::Audit),
    /// An entry for the fixture's draft audit.
    UpsertEntry(pb::AuditEntry),
    CreateMetric(pb::MetricDefinition),
    Write(Vec<pb::Observation>),
    Stream(Vec<pb::Observation>),
    Query(String),
    List(List, String, String),
}

/// What every case starts from: two accounts, two audits (the first a
/// draft the entry cases write to), two observations, so each list method
/// has a second page.
#[derive(Default)]
struct Fixture {
    account: String,
    audit: String,
}

async fn fixture(app: &TestApp) -> Fixture {
    let account = app.create_account(Network::Instagram, "acme").await.name;
    app.create_account(Network::X, "acme").await;
    let mut audits = Vec::new();
    for title in ["Q1 audit", "Q2 audit"] {
        audits.push(app.create_audit(title, Vec::new()).await.name);
    }
    let day = recent_day();
    run(
        app,
        &Fixture::default(),
        Call::Write(vec![
            obs("likes", day, 1.0),
            obs("likes", day + TimeDelta::hours(1), 2.0),
        ]),
    )
    .await
    .expect("write the fixture observations");
    Fixture {
        account,
        audit: audits.swap_remove(0),
    }
}

/// Sends `call`, returning the next page token of a list call.
async fn run(app: &TestApp, fixture: &Fixture, call: Call) -> Result<String, Status> {
    let mut audits = app.audits();
    let mut metrics = metric_client(app);
    match call {
        Call::CreateAccount(account) => audits
            .create_account(pb::CreateAccountRequest {
                account: Some(account),
                request_id: String::new(),
            })
            .await
            .map(|_| String::new()),
        Call::UpdateAccount(changes, path) => audits
            .update_account(pb::UpdateAccountRequest {
                account: Some(pb::Account {
                    name: fixture.account.clone(),
                    ..changes
                }),
                update_mask: Some(FieldMask {
                    paths: vec![path.into()],
                }),
            })
            .await
            .map(|_| String::new()),
        Call::CreateAudit(audit) => audits
            .create_audit(pb::CreateAuditRequest {
                audit: Some(audit),
                request_id: String::new(),
            })
            .await
            .map(|_| String::new()),
        Call::UpsertEntry(entry) => audits
            .upsert_audit_entry(pb::UpsertAuditEntryRequest {
                audit: fixture.audit.clone(),
                entry: Some(entry),
                etag: String::new(),
            })
            .await
            .map(|_| String::new()),
        Call::CreateMetric(definition) => metrics
            .create_metric_definition(pb::CreateMetricDefinitionRequest {
                metric_definition: Some(definition),
                request_id: String::new(),
            })
            .await
            .map(|_| String::new()),
        Call::Write(observations) => metrics
            .write_observations(pb::WriteObservationsRequest { observations })
            .await
            .map(|_| String::new()),
        Call::Stream(observations) => metrics
            .stream_observations(tokio_stream::iter([pb::StreamObservationsRequest {
                observations,
            }]))
            .await
            .map(|_| String::new()),
        Call::Query(metric_key) => {
            let day = recent_day();
            metrics
                .query_metric(pb::QueryMetricRequest {
                    metric_key,
                    start: Some(ts(day)),
                    end: Some(ts(day + TimeDelta::days(1))),
                    ..Default::default()
                })
                .await
                .map(|_| String::new())
        }
        Call::List(method, filter, page_token) => {
            let page_size = 1;
            match method {
                List::Accounts => audits
                    .list_accounts(pb::ListAccountsRequest {
                        page_size,
                        page_token,
                        filter,
                    })
                    .await
                    .map(|page| page.into_inner().next_page_token),
                List::Audits => audits
                    .list_audits(pb::ListAuditsRequest {
                        page_size,
                        page_token,
                        filter,
                    })
                    .await
                    .map(|page| page.into_inner().next_page_token),
                List::Metrics => metrics
                    .list_metric_definitions(pb::ListMetricDefinitionsRequest {
                        page_size,
                        page_token,
                        filter,
                    })
                    .await
                    .map(|page| page.into_inner().next_page_token),
                List::Observations => metrics
                    .list_observations(pb::ListObservationsRequest {
                        page_size,
                        page_token,
                        filter,
                    })
                    .await
                    .map(|page| page.into_inner().next_page_token),
            }
        }
    }
}

/// Everything a call could have stored: row counts and the fixture's
/// account and draft audit as read back.
async fn stored(app: &TestApp, fixture: &Fixture) -> (Vec<i64>, pb::Account, pb::Audit) {
    let mut counts = Vec::new();
    for table in [
        "account",
        "audit",
        "audit_entry",
        "metric_definition",
        "metric_formula_term",
        "series",
        "observation",
    ] {
        counts.push(app.count(table).await);
    }
    let mut audits = app.audits();
    let account = audits
        .get_account(pb::GetAccountRequest {
            name: fixture.account.clone(),
        })
        .await
        .expect("read the fixture account")
        .into_inner();
    let audit = audits
        .get_audit(pb::GetAuditRequest {
            name: fixture.audit.clone(),
        })
        .await
        .expect("read the fixture audit")
        .into_inner();
    (counts, account, audit)
}

/// A bad call, described, and the fields its rejection must name.
type Case = (String, Call, &'static [&'static str]);

fn case(description: impl Into<String>, call: Call, fields: &'static [&'static str]) -> Case {
    (description.into(), call, fields)
}

/// Runs each case, expecting INVALID_ARGUMENT naming exactly its fields and
/// nothing stored.
async fn expect_rejected(app: &TestApp, fixture: &Fixture, cases: Vec<Case>) {
    for (description, call, fields) in cases {
        let before = stored(app, fixture).await;
        let error = match run(app, fixture, call).await {
            Ok(_) => panic!("{description}: accepted"),
            Err(error) => error,
        };
        eprintln!("case: {description}");
        assert_violations(&error, fields);
        assert!(
            stored(app, fixture).await == before,
            "{description}: stored something"
        );
    }
}
