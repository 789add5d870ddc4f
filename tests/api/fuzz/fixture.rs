//! The resources every fuzzing server starts with, so that near-valid
//! requests name things that exist and reach the checks behind the lookups,
//! and a page token of every list method to tamper with.

use std::collections::HashMap;

use chrono::{TimeDelta, Utc};
use goalpost::pb;
use goalpost::pb::account::Network;
use goalpost::pb::goal::Framework;
use goalpost::pb::metric_definition::Aggregation;

use super::lists::ListMethod;
use crate::helpers::TestApp;
use crate::metrics::{base_metric, create_metric, derived_metric, term};
use crate::progress::{
    activate, add_key_result, create_goal, goal, metric_key_result, milestone_key_result, observe,
};

/// Names and keys of the fixture's resources.
pub struct Fixture {
    /// Two accounts.
    pub accounts: Vec<String>,
    /// Two draft audits, the first with an entry.
    pub audits: Vec<String>,
    /// A draft goal and an active one, each with a metric and a milestone
    /// key result.
    pub goals: Vec<String>,
    /// The key results of both goals: metric, milestone, metric, milestone.
    pub key_results: Vec<String>,
    /// The ids of the milestones of the milestone key results.
    pub milestone_ids: Vec<String>,
    /// Built-in and custom metric keys, base and derived.
    pub metric_keys: Vec<String>,
    /// A first-page token of each list method, for the empty filter.
    pub tokens: HashMap<ListMethod, String>,
}

impl Fixture {
    /// Every resource name of the fixture, metric names included.
    pub fn names(&self) -> Vec<String> {
        let metrics = self.metric_keys.iter().map(|key| format!("metrics/{key}"));
        self.accounts
            .iter()
            .chain(&self.audits)
            .chain(&self.goals)
            .chain(&self.key_results)
            .cloned()
            .chain(metrics)
            .collect()
    }
}

/// RFC 3339 text of `days` days from now.
fn days_from_now(days: i64) -> String {
    (Utc::now() + TimeDelta::days(days)).to_rfc3339()
}

/// Creates the fixture on `app`.
pub async fn build(app: &TestApp) -> Fixture {
    let accounts = vec![
        app.create_account(Network::Instagram, "acme").await.name,
        app.create_account(Network::X, "acme").await.name,
    ];
    create_metric(app, base_metric("fuzz_reach", Aggregation::Sum)).await;
    create_metric(
        app,
        derived_metric(
            "fuzz_rate",
            vec![term("likes", 1.0)],
            vec![term("fuzz_reach", 1.0)],
            100.0,
        ),
    )
    .await;
    let metric_keys: Vec<String> = ["likes", "followers", "engagement_rate", "fuzz_reach"]
        .into_iter()
        .chain(["fuzz_rate"])
        .map(str::to_owned)
        .collect();
    let mut rows = Vec::new();
    let times: Vec<String> = (1..=3).map(|day| days_from_now(-day)).collect();
    for time in &times {
        for account in [accounts[0].as_str(), ""] {
            rows.push(("likes", account, time.as_str(), 5.0));
            rows.push(("fuzz_reach", account, time.as_str(), 50.0));
        }
    }
    observe(app, &rows).await;

    let mut audits = Vec::new();
    for title in ["Q1 audit", "Q2 audit"] {
        audits.push(app.create_audit(title, Vec::new()).await.name);
    }
    app.audits()
        .upsert_audit_entry(pb::UpsertAuditEntryRequest {
            audit: audits[0].clone(),
            entry: Some(pb::AuditEntry {
                account: accounts[0].clone(),
                metrics: [("likes".to_owned(), 12.0)].into(),
                ..Default::default()
            }),
            etag: String::new(),
        })
        .await
        .expect("add an audit entry");

    let mut goals = Vec::new();
    let mut key_results = Vec::new();
    let mut milestone_ids = Vec::new();
    for title in ["Draft goal", "Active goal"] {
        let created = create_goal(
            app,
            goal(
                title,
                Framework::Okr,
                &days_from_now(-30),
                &days_from_now(60),
            ),
        )
        .await;
        let metric = add_key_result(
            app,
            &created,
            pb::KeyResult {
                target_value: Some(100.0),
                ..metric_key_result("likes", &[&accounts[0]], 7)
            },
        )
        .await;
        let steps =
            add_key_result(app, &created, milestone_key_result(&["Launch", "Review"])).await;
        key_results.extend([metric.name, steps.name]);
        milestone_ids.extend(steps.milestones.into_iter().map(|step| step.id));
        goals.push(created);
    }
    activate(app, &goals[1]).await;
    let goals: Vec<String> = goals.into_iter().map(|goal| goal.name).collect();

    let mut tokens = HashMap::new();
    for method in ListMethod::ALL {
        let token = super::lists::first_page_token(app, method).await;
        assert!(!token.is_empty(), "{method:?} has a second page");
        tokens.insert(method, token);
    }
    Fixture {
        accounts,
        audits,
        goals,
        key_results,
        milestone_ids,
        metric_keys,
        tokens,
    }
}
