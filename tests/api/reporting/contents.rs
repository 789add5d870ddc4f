//! The views hold what the API answers: data is written through gRPC, then
//! rows read as the reporting role are compared with Get, List and
//! QueryMetric answers for the same things.

mod daily;
mod goals;

use chrono::{DateTime, Utc};
use goalpost::pb;
use goalpost::pb::account::Network;
use goalpost::pb::goal::Framework;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::TestRole;
use crate::helpers::{TestApp, spawn_app};
use crate::progress::{
    activate, add_key_result, at, create_goal, goal, mark_done, metric_key_result,
    milestone_key_result,
};

/// The accounts, audit and goal every comparison reads.
pub struct Seed {
    pub instagram: pb::Account,
    pub linkedin: pb::Account,
    pub impostor: pb::Account,
    pub audit: pb::Audit,
    pub goal: pb::Goal,
}

/// Three accounts, a completed audit of them, and an active SMART goal with
/// a metric key result (two accounts and the organisation-wide series,
/// a checkpoint) and a milestone key result with one step done.
pub async fn seed(app: &TestApp) -> Seed {
    let instagram = app.create_account(Network::Instagram, "@acme").await;
    let linkedin = app.create_account(Network::Linkedin, "acme-corp").await;
    let impostor = app
        .audits()
        .create_account(pb::CreateAccountRequest {
            account: Some(pb::Account {
                network: Network::X as i32,
                handle: "acme_official_real".into(),
                status: pb::account::Status::Impostor as i32,
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();

    let entry = |account: &pb::Account, followers: f64, assessment| pb::AuditEntry {
        account: account.name.clone(),
        metrics: [
            ("followers".to_owned(), followers),
            ("engagement_rate".to_owned(), followers / 400.0),
        ]
        .into_iter()
        .collect(),
        top_post_urls: vec![
            format!("https://example.com/{}/1", account.handle),
            format!("https://example.com/{}/2", account.handle),
        ],
        assessment: assessment as i32,
        notes: format!("notes on {}", account.handle),
    };
    use pb::audit_entry::Assessment;
    let audit = app
        .audits()
        .create_audit(pb::CreateAuditRequest {
            audit: Some(pb::Audit {
                title: "Autumn audit".into(),
                auditor: "ana".into(),
                as_of: Some(at("2026-09-15T12:00:00Z")),
                entries: vec![
                    entry(&instagram, 900.0, Assessment::PerformingWell),
                    entry(&linkedin, 300.0, Assessment::NeedsFocus),
                    entry(&impostor, 10.0, Assessment::Retire),
                ],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let audit = app
        .audits()
        .complete_audit(pb::CompleteAuditRequest {
            name: audit.name,
            etag: String::new(),
        })
        .await
        .unwrap()
        .into_inner();

    let mut smart = goal(
        "Grow engagement on Instagram this quarter",
        Framework::Smart,
        "2026-10-01T00:00:00Z",
        "2026-12-31T00:00:00Z",
    );
    smart.owner = "maria".into();
    smart.team = "social".into();
    let goal = create_goal(app, smart).await;
    let mut engagement = metric_key_result("engagement_rate", &[&instagram.name, ""], 7);
    engagement.target_mode = pb::key_result::TargetMode::Reach as i32;
    engagement.baseline_value = Some(2.0);
    engagement.target_value = Some(5.0);
    engagement.weight = Some(2.0);
    engagement.checkpoints = vec![pb::key_result::Checkpoint {
        time: Some(at("2026-11-15T00:00:00Z")),
        target_value: 3.5,
    }];
    add_key_result(app, &goal, engagement).await;
    let steps = add_key_result(
        app,
        &goal,
        milestone_key_result(&["Write a social media policy", "Secure all social accounts"]),
    )
    .await;
    mark_done(app, &steps, 0, "2026-10-02T10:00:00Z").await;
    activate(app, &goal).await;
    let goal = app
        .goals()
        .get_goal(pb::GetGoalRequest { name: goal.name })
        .await
        .unwrap()
        .into_inner();
    Seed {
        instagram,
        linkedin,
        impostor,
        audit,
        goal,
    }
}

/// A proto timestamp as the views return times.
pub fn time(timestamp: &Option<prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    timestamp
        .as_ref()
        .map(|t| DateTime::from_timestamp(t.seconds, t.nanos as u32).expect("a valid time"))
}

/// The enum value's name without its prefix, as the views spell it.
pub fn bare(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{name} starts with {prefix}"))
        .to_owned()
}

/// Every row of `query` as the reporting role.
async fn rows(connection: &mut PgConnection, query: &'static str) -> Vec<PgRow> {
    sqlx::query(query).fetch_all(connection).await.unwrap()
}

#[tokio::test]
async fn audit_views_match_get_audit() {
    let app = spawn_app().await;
    let seed = seed(&app).await;
    let role = TestRole::new(&app, "gp_bi_audit_");
    role.grant().await.unwrap();
    let mut reader = role.connect().await;
    let audit = &seed.audit;
    // Top and bottom followers and engagement rate, and the impostor's
    // three: no owner, no purpose, an impostor.
    assert_eq!(audit.findings.len(), 7, "{:?}", audit.findings);

    let row = &rows(&mut reader, "select * from reporting.audits").await[0];
    assert_eq!(row.get::<String, _>("audit_name"), audit.name);
    assert_eq!(row.get::<String, _>("title"), audit.title);
    assert_eq!(row.get::<String, _>("auditor"), audit.auditor);
    assert_eq!(
        Some(row.get::<DateTime<Utc>, _>("as_of")),
        time(&audit.as_of)
    );
    assert_eq!(row.get::<String, _>("state"), "COMPLETED");
    assert_eq!(
        row.get::<Option<DateTime<Utc>>, _>("complete_time"),
        time(&audit.complete_time)
    );
    assert_eq!(row.get::<i64, _>("entry_count"), audit.entries.len() as i64);
    assert_eq!(
        row.get::<i64, _>("finding_count"),
        audit.findings.len() as i64
    );

    let entries = rows(&mut reader, "select * from reporting.audit_entries").await;
    assert_eq!(entries.len(), audit.entries.len());
    for entry in &audit.entries {
        let row = entries
            .iter()
            .find(|row| row.get::<String, _>("account_name") == entry.account)
            .expect("a row per entry");
        let assessment = pb::audit_entry::Assessment::try_from(entry.assessment).unwrap();
        assert_eq!(
            row.get::<Option<String>, _>("assessment"),
            Some(bare(assessment.as_str_name(), "ASSESSMENT_"))
        );
        assert_eq!(row.get::<String, _>("notes"), entry.notes);
        assert_eq!(
            row.get::<String, _>("top_post_urls"),
            entry.top_post_urls.join("\n")
        );
        assert_eq!(row.get::<i64, _>("top_post_count"), 2);
    }

    let metrics = rows(
        &mut reader,
        "select account_name, metric_key, value from reporting.audit_entry_metrics",
    )
    .await;
    let from_view: Vec<(String, String, f64)> = {
        let mut all: Vec<_> = metrics
            .iter()
            .map(|row| {
                (
                    row.get("account_name"),
                    row.get("metric_key"),
                    row.get("value"),
                )
            })
            .collect();
        all.sort_by(|a: &(String, String, f64), b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        all
    };
    let mut from_api: Vec<(String, String, f64)> = audit
        .entries
        .iter()
        .flat_map(|entry| {
            entry
                .metrics
                .iter()
                .map(|(key, value)| (entry.account.clone(), key.clone(), *value))
        })
        .collect();
    from_api.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    assert_eq!(from_view, from_api);

    let findings = rows(
        &mut reader,
        "select * from reporting.audit_findings order by position",
    )
    .await;
    assert_eq!(findings.len(), audit.findings.len());
    for (row, finding) in findings.iter().zip(&audit.findings) {
        let kind = pb::finding::Kind::try_from(finding.kind).unwrap();
        assert_eq!(
            row.get::<String, _>("kind"),
            bare(kind.as_str_name(), "KIND_")
        );
        assert_eq!(row.get::<String, _>("account_name"), finding.account);
        assert_eq!(
            row.get::<Option<String>, _>("metric_key")
                .unwrap_or_default(),
            finding.metric_key
        );
        assert_eq!(row.get::<Option<f64>, _>("value"), finding.value);
        assert_eq!(row.get::<String, _>("description"), finding.description);
    }

    let accounts = rows(&mut reader, "select * from reporting.accounts").await;
    for account in [&seed.instagram, &seed.linkedin, &seed.impostor] {
        let row = accounts
            .iter()
            .find(|row| row.get::<String, _>("account_name") == account.name)
            .expect("a row per account");
        let network = Network::try_from(account.network).unwrap();
        let status = pb::account::Status::try_from(account.status).unwrap();
        assert_eq!(
            row.get::<String, _>("network"),
            bare(network.as_str_name(), "NETWORK_")
        );
        assert_eq!(
            row.get::<String, _>("status"),
            bare(status.as_str_name(), "STATUS_")
        );
        assert_eq!(row.get::<String, _>("handle"), account.handle);
        assert_eq!(row.get::<String, _>("owner"), account.owner);
        assert_eq!(row.get::<String, _>("purpose"), account.purpose);
        assert_eq!(
            Some(row.get::<DateTime<Utc>, _>("update_time")),
            time(&account.update_time)
        );
    }
}
