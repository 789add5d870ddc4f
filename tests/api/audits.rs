//! AuditService audit methods through real gRPC calls.

use std::collections::BTreeMap;

use goalpost::pb;
use goalpost::pb::account::{Network, Status as AccountStatus};
use goalpost::pb::audit::State;
use goalpost::pb::audit_entry::Assessment;
use goalpost::pb::finding::Kind;
use prost_types::Timestamp;
use tonic::Code;

mod pages_and_retries;

use crate::helpers::{TestApp, assert_error, assert_violations, precondition_types, spawn_app};

fn metrics(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), *value))
        .collect()
}

fn entry(account: &pb::Account, pairs: &[(&str, f64)]) -> pb::AuditEntry {
    pb::AuditEntry {
        account: account.name.clone(),
        metrics: metrics(pairs),
        ..Default::default()
    }
}

async fn upsert(
    app: &TestApp,
    audit: &str,
    entry: pb::AuditEntry,
    etag: &str,
) -> Result<pb::Audit, tonic::Status> {
    app.audits()
        .upsert_audit_entry(pb::UpsertAuditEntryRequest {
            audit: audit.into(),
            entry: Some(entry),
            etag: etag.into(),
        })
        .await
        .map(|response| response.into_inner())
}

async fn complete(app: &TestApp, audit: &str) -> Result<pb::Audit, tonic::Status> {
    app.audits()
        .complete_audit(pb::CompleteAuditRequest {
            name: audit.into(),
            etag: String::new(),
        })
        .await
        .map(|response| response.into_inner())
}

#[tokio::test]
async fn an_audit_is_created_as_a_draft_with_its_entries() {
    let app = spawn_app().await;
    let account = app.create_account(Network::Instagram, "acme").await;
    let as_of = Timestamp {
        seconds: 1_767_225_600,
        nanos: 0,
    };
    let created = app
        .audits()
        .create_audit(pb::CreateAuditRequest {
            audit: Some(pb::Audit {
                title: "2026 social audit".into(),
                as_of: Some(as_of),
                entries: vec![pb::AuditEntry {
                    top_post_urls: vec!["https://instagram.com/p/1".into()],
                    assessment: Assessment::PerformingWell as i32,
                    notes: "steady growth\nkeep going".into(),
                    ..entry(
                        &account,
                        &[("followers", 12_000.0), ("engagement_rate", 3.5)],
                    )
                }],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();

    assert!(created.name.starts_with("audits/"));
    assert_eq!(created.state, State::Draft as i32);
    assert_eq!(created.as_of, Some(as_of));
    assert!(created.complete_time.is_none() && created.findings.is_empty());
    assert_eq!(created.entries.len(), 1);
    assert_eq!(
        created.entries[0].metrics,
        metrics(&[("engagement_rate", 3.5), ("followers", 12_000.0)])
    );

    let read = app
        .audits()
        .get_audit(pb::GetAuditRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, created);
}

#[tokio::test]
async fn upserting_an_entry_adds_or_replaces_and_moves_the_etag() {
    let app = spawn_app().await;
    let a = app.create_account(Network::X, "a").await;
    let b = app.create_account(Network::X, "b").await;
    let audit = app.create_audit("Q1", vec![]).await;

    let after_add = upsert(
        &app,
        &audit.name,
        entry(&a, &[("followers", 10.0), ("likes", 5.0)]),
        &audit.etag,
    )
    .await
    .unwrap();
    assert_ne!(after_add.etag, audit.etag);
    let after_second = upsert(&app, &audit.name, entry(&b, &[("followers", 20.0)]), "")
        .await
        .unwrap();
    assert_eq!(after_second.entries.len(), 2);

    let replaced = upsert(&app, &audit.name, entry(&a, &[("followers", 11.0)]), "")
        .await
        .unwrap();
    assert_eq!(replaced.entries.len(), 2);
    let replaced_entry = replaced
        .entries
        .iter()
        .find(|e| e.account == a.name)
        .unwrap();
    assert_eq!(
        replaced_entry.metrics,
        metrics(&[("followers", 11.0)]),
        "the old metric set is replaced"
    );
    assert_eq!(app.count("audit_entry_metric").await, 2);

    // The etag read before the last two writes is stale now.
    let error = upsert(&app, &audit.name, entry(&b, &[]), &after_add.etag)
        .await
        .unwrap_err();
    assert_error(&error, Code::Aborted, "ETAG_MISMATCH");
}

#[tokio::test]
async fn bad_entries_are_rejected_with_every_violation_and_nothing_stored() {
    let app = spawn_app().await;
    let account = app.create_account(Network::Facebook, "acme").await;
    let audit = app.create_audit("Q2", vec![]).await;
    let missing = "accounts/0190b6f4-5e6b-7c1d-9a2e-3f4a5b6c7d8e";
    let cases: Vec<(&str, pb::AuditEntry, Vec<&str>)> = vec![
        (
            "no account",
            pb::AuditEntry::default(),
            vec!["entry.account"],
        ),
        (
            "malformed account",
            pb::AuditEntry {
                account: "accounts/not-a-uuid".into(),
                ..Default::default()
            },
            vec!["entry.account"],
        ),
        (
            "missing account",
            pb::AuditEntry {
                account: missing.into(),
                ..Default::default()
            },
            vec!["entry.account"],
        ),
        (
            "unknown metric",
            entry(&account, &[("vibes", 1.0)]),
            vec!["entry.metrics[vibes]"],
        ),
        (
            "badly formed metric key",
            entry(&account, &[("Likes", 1.0)]),
            vec!["entry.metrics[Likes]"],
        ),
        (
            "non-finite values",
            entry(&account, &[("likes", f64::NAN), ("shares", f64::INFINITY)]),
            vec!["entry.metrics[likes]", "entry.metrics[shares]"],
        ),
        (
            "bad post url and assessment",
            pb::AuditEntry {
                top_post_urls: vec!["not a url".into()],
                assessment: 12,
                ..entry(&account, &[])
            },
            vec!["entry.top_post_urls[0]", "entry.assessment"],
        ),
        (
            "over-long notes",
            pb::AuditEntry {
                notes: "n".repeat(5001),
                ..entry(&account, &[])
            },
            vec!["entry.notes"],
        ),
    ];
    for (description, bad, fields) in cases {
        let error = upsert(&app, &audit.name, bad, "").await.unwrap_err();
        assert_violations(&error, &fields);
        assert_eq!(
            app.count("audit_entry").await,
            0,
            "{description} stored something"
        );
    }
    let read = app
        .audits()
        .get_audit(pb::GetAuditRequest {
            name: audit.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        read.etag, audit.etag,
        "failed writes leave the audit untouched"
    );

    let error = app
        .audits()
        .upsert_audit_entry(pb::UpsertAuditEntryRequest {
            audit: "audits/x".into(),
            entry: None,
            etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_violations(&error, &["audit", "entry"]);
}

#[tokio::test]
async fn bad_audits_are_rejected_and_nothing_is_stored() {
    let app = spawn_app().await;
    let account = app.create_account(Network::Facebook, "acme").await;
    let in_two_days = Timestamp {
        seconds: chrono::Utc::now().timestamp() + 2 * 86_400,
        nanos: 0,
    };
    let cases: Vec<(&str, Option<pb::Audit>, Vec<&str>)> = vec![
        ("no audit", None, vec!["audit", "audit.title"]),
        (
            "blank title",
            Some(pb::Audit {
                title: " ".into(),
                ..Default::default()
            }),
            vec!["audit.title"],
        ),
        (
            "as_of in the future",
            Some(pb::Audit {
                title: "t".into(),
                as_of: Some(in_two_days),
                ..Default::default()
            }),
            vec!["audit.as_of"],
        ),
        (
            "the same account twice and an unknown metric",
            Some(pb::Audit {
                title: "t".into(),
                entries: vec![
                    entry(&account, &[]),
                    entry(&account, &[]),
                    entry(&account, &[("nope", 1.0)]),
                ],
                ..Default::default()
            }),
            vec!["audit.entries[1].account", "audit.entries[2].account"],
        ),
    ];
    for (description, audit, fields) in cases {
        let error = app
            .audits()
            .create_audit(pb::CreateAuditRequest {
                audit,
                request_id: String::new(),
            })
            .await
            .unwrap_err();
        assert_violations(&error, &fields);
        assert_eq!(
            app.count("audit").await,
            0,
            "{description} stored something"
        );
    }

    // Database-checked problems are reported together, and the audit row is
    // not left behind.
    let error = app
        .audits()
        .create_audit(pb::CreateAuditRequest {
            audit: Some(pb::Audit {
                title: "t".into(),
                entries: vec![
                    entry(&account, &[("nope", 1.0)]),
                    pb::AuditEntry {
                        account: "accounts/0190b6f4-5e6b-7c1d-9a2e-3f4a5b6c7d8e".into(),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_violations(
        &error,
        &["audit.entries[0].metrics[nope]", "audit.entries[1].account"],
    );
    assert_eq!(app.count("audit").await, 0);
}

#[tokio::test]
async fn completing_an_audit_computes_findings_and_freezes_it() {
    let app = spawn_app().await;
    let strong = app.create_account(Network::Instagram, "strong").await;
    let middling = app.create_account(Network::Facebook, "middling").await;
    let weak = app.create_account(Network::X, "weak").await;
    // An impostor with no owner and no purpose.
    let fake = app
        .audits()
        .create_account(pb::CreateAccountRequest {
            account: Some(pb::Account {
                network: Network::Instagram as i32,
                handle: "acme_official_real".into(),
                status: AccountStatus::Impostor as i32,
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();

    let audit = app
        .create_audit(
            "Year-end audit",
            vec![
                entry(
                    &strong,
                    &[("followers", 9000.0), ("bounce_rate", 20.0), ("likes", 5.0)],
                ),
                entry(
                    &middling,
                    &[("followers", 5000.0), ("bounce_rate", 35.0), ("likes", 7.0)],
                ),
                entry(&weak, &[("followers", 100.0), ("bounce_rate", 70.0)]),
                entry(&fake, &[]),
            ],
        )
        .await;
    let completed = complete(&app, &audit.name).await.unwrap();
    assert_eq!(completed.state, State::Completed as i32);
    assert!(completed.complete_time.is_some());

    let performers: Vec<(i32, &str, &str, Option<f64>)> = completed
        .findings
        .iter()
        .filter(|f| !f.metric_key.is_empty())
        .map(|f| (f.kind, f.metric_key.as_str(), f.account.as_str(), f.value))
        .collect();
    assert_eq!(
        performers,
        [
            // bounce_rate: lower is better.
            (
                Kind::TopPerformer as i32,
                "bounce_rate",
                strong.name.as_str(),
                Some(20.0)
            ),
            (
                Kind::BottomPerformer as i32,
                "bounce_rate",
                weak.name.as_str(),
                Some(70.0)
            ),
            (
                Kind::TopPerformer as i32,
                "followers",
                strong.name.as_str(),
                Some(9000.0)
            ),
            (
                Kind::BottomPerformer as i32,
                "followers",
                weak.name.as_str(),
                Some(100.0)
            ),
            // likes is in only two entries: not ranked.
        ]
    );
    let account_findings: Vec<(i32, &str)> = completed
        .findings
        .iter()
        .filter(|f| f.metric_key.is_empty())
        .map(|f| (f.kind, f.account.as_str()))
        .collect();
    assert_eq!(
        account_findings,
        [
            (Kind::MissingOwner as i32, fake.name.as_str()),
            (Kind::MissingPurpose as i32, fake.name.as_str()),
            (Kind::Impostor as i32, fake.name.as_str()),
        ]
    );
    assert!(completed.findings.iter().all(|f| !f.description.is_empty()));

    // Frozen: no more entries, no second completion, nothing changes.
    let error = upsert(&app, &audit.name, entry(&strong, &[("followers", 1.0)]), "")
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&error), ["AUDIT_COMPLETED"]);
    let error = complete(&app, &audit.name).await.unwrap_err();
    assert_eq!(precondition_types(&error), ["AUDIT_COMPLETED"]);
    let read = app
        .audits()
        .get_audit(pb::GetAuditRequest {
            name: audit.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, completed);
}

#[tokio::test]
async fn an_empty_audit_cannot_be_completed() {
    let app = spawn_app().await;
    let audit = app.create_audit("Empty", vec![]).await;
    let error = complete(&app, &audit.name).await.unwrap_err();
    assert_eq!(precondition_types(&error), ["AUDIT_EMPTY"]);
    let error = complete(&app, "audits/0190b6f4-5e6b-7c1d-9a2e-3f4a5b6c7d8e")
        .await
        .unwrap_err();
    assert_error(&error, Code::NotFound, "AUDIT_NOT_FOUND");
    let error = complete(&app, "audits/nope").await.unwrap_err();
    assert_violations(&error, &["name"]);
}
