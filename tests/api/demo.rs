//! `goalpost demo` against a real server: what it loads, checked through the
//! API, and that a second run adds nothing.

use goalpost::config::DemoSettings;
use goalpost::demo::{self, DemoError};
use goalpost::pb;
use goalpost::pb::metric_service_client::MetricServiceClient;
use goalpost::pb::progress_service_client::ProgressServiceClient;
use goalpost::pb::{ProgressStatus, finding};

use crate::helpers::{TestApp, spawn_app};

/// The tables a rerun must leave as they are.
const TABLES: [&str; 9] = [
    "account",
    "audit",
    "audit_entry",
    "audit_finding",
    "goal",
    "key_result",
    "milestone",
    "series",
    "observation",
];

async fn row_counts(app: &TestApp) -> Vec<(&'static str, i64)> {
    let mut counts = Vec::new();
    for table in TABLES {
        counts.push((table, app.count(table).await));
    }
    counts
}

fn status_of(progress: &pb::GoalProgress) -> ProgressStatus {
    ProgressStatus::try_from(progress.status).expect("a known status")
}

#[tokio::test]
async fn the_demo_loads_a_year_of_data_and_a_rerun_adds_nothing() {
    let app = spawn_app().await;
    let settings = DemoSettings {
        server: app.server_url(),
        token: None,
    };
    demo::run(&settings).await.expect("the demo loads");

    let accounts = app
        .audits()
        .list_accounts(pb::ListAccountsRequest {
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("list accounts")
        .into_inner()
        .accounts;
    assert_eq!(accounts.len(), 6);
    let networks: std::collections::BTreeSet<i32> =
        accounts.iter().map(|account| account.network).collect();
    assert!(networks.len() >= 5, "{networks:?}");
    assert_eq!(
        accounts
            .iter()
            .filter(|account| account.owner.is_empty())
            .count(),
        1
    );

    let audits = app
        .audits()
        .list_audits(pb::ListAuditsRequest::default())
        .await
        .expect("list audits")
        .into_inner()
        .audits;
    assert_eq!(audits.len(), 1);
    let audit = &audits[0];
    assert_eq!(audit.state, pb::audit::State::Completed as i32);
    assert_eq!(audit.entries.len(), 6);
    let kinds: Vec<i32> = audit.findings.iter().map(|found| found.kind).collect();
    for kind in [
        finding::Kind::TopPerformer,
        finding::Kind::BottomPerformer,
        finding::Kind::MissingOwner,
    ] {
        assert!(kinds.contains(&(kind as i32)), "{kind:?} in {kinds:?}");
    }

    let goals = app
        .goals()
        .list_goals(pb::ListGoalsRequest {
            filter: "team = \"demo\"".to_owned(),
            ..Default::default()
        })
        .await
        .expect("list goals")
        .into_inner()
        .goals;
    assert_eq!(goals.len(), 2);
    let mut progress = ProgressServiceClient::new(app.channel.clone());
    let mut statuses = Vec::new();
    for goal in &goals {
        assert_eq!(goal.state, pb::goal::State::Active as i32, "{}", goal.title);
        let found = progress
            .get_goal_progress(pb::GetGoalProgressRequest {
                goal: goal.name.clone(),
                as_of: None,
            })
            .await
            .expect("goal progress")
            .into_inner();
        assert!(found.complete, "every key result has data: {found:?}");
        statuses.push((goal.framework, status_of(&found), found));
    }
    for (framework, status, found) in &statuses {
        if *framework == pb::goal::Framework::Smart as i32 {
            assert!(
                matches!(status, ProgressStatus::OnTrack | ProgressStatus::Achieved),
                "SMART: {found:?}"
            );
        } else {
            assert!(
                matches!(status, ProgressStatus::OffTrack | ProgressStatus::AtRisk),
                "OKR: {found:?}"
            );
        }
    }
    let okr = goals
        .iter()
        .find(|goal| goal.framework == pb::goal::Framework::Okr as i32)
        .expect("an OKR");
    assert_eq!(okr.key_results.len(), 3);
    let milestones: Vec<&pb::key_result::Milestone> = okr
        .key_results
        .iter()
        .flat_map(|key_result| &key_result.milestones)
        .collect();
    let done = milestones.iter().filter(|milestone| milestone.done).count();
    assert!(done > 0 && done < milestones.len(), "{milestones:?}");

    // A year of daily values: every month of the last twelve has likes.
    let now = chrono::Utc::now();
    let buckets = MetricServiceClient::new(app.channel.clone())
        .query_metric(pb::QueryMetricRequest {
            metric_key: "likes".to_owned(),
            accounts: Vec::new(),
            start: Some(prost_types::Timestamp {
                seconds: (now - chrono::TimeDelta::days(360)).timestamp(),
                nanos: 0,
            }),
            end: Some(prost_types::Timestamp {
                seconds: now.timestamp(),
                nanos: 0,
            }),
            interval: pb::Interval::Month as i32,
        })
        .await
        .expect("query likes")
        .into_inner()
        .buckets;
    assert!(buckets.len() >= 12, "{buckets:?}");
    assert!(
        buckets
            .iter()
            .all(|bucket| bucket.value.is_some_and(|value| value > 0.0))
    );
    let first_and_last: (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("select min(observed_at), max(observed_at) from observation")
            .fetch_one(&app.pool)
            .await
            .expect("the observed range");
    assert_eq!((first_and_last.1 - first_and_last.0).num_days(), 364);

    let after_one = row_counts(&app).await;
    assert_eq!(after_one.last(), Some(&("observation", 42 * 365)));
    demo::run(&settings).await.expect("the demo runs again");
    assert_eq!(row_counts(&app).await, after_one, "a rerun adds nothing");
}

#[tokio::test]
async fn the_demo_says_so_when_no_server_answers() {
    // A port that was free a moment ago: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let address = listener.local_addr().expect("its address");
    drop(listener);
    let error = demo::run(&DemoSettings {
        server: format!("http://{address}"),
        token: None,
    })
    .await
    .expect_err("nothing to load into");
    assert!(matches!(error, DemoError::Unreachable { .. }), "{error:?}");
    assert!(
        error.to_string().contains("cannot reach goalpost"),
        "{error}"
    );
}

#[tokio::test]
async fn the_demo_refuses_an_address_that_is_not_a_url() {
    let error = demo::run(&DemoSettings {
        server: "not a url".to_owned(),
        token: None,
    })
    .await
    .expect_err("no channel to such an address");
    assert!(matches!(error, DemoError::BadServer { .. }), "{error:?}");
}
