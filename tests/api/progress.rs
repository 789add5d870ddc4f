//! ProgressService through real gRPC calls: the seed scenarios and DESIGN
//! §2's worked examples, each number worked out by hand in the test, plus
//! the moments, reports, histories and checks around them.

mod caches;
mod histories;
mod large_reports;
mod random_data;
mod reports;
mod scenarios;
mod selection_collection;
mod selection_rollups;

use goalpost::pb;
use goalpost::pb::goal_service_client::GoalServiceClient;
use goalpost::pb::progress_service_client::ProgressServiceClient;
use tonic::transport::Channel;

use crate::helpers::TestApp;
use crate::metrics::metric_client;

/// A client of GoalService.
pub fn goal_client(app: &TestApp) -> GoalServiceClient<Channel> {
    GoalServiceClient::new(app.channel.clone())
}

/// A client of ProgressService.
pub fn progress_client(app: &TestApp) -> ProgressServiceClient<Channel> {
    ProgressServiceClient::new(app.channel.clone())
}

/// A timestamp from RFC 3339 text.
pub fn at(text: &str) -> prost_types::Timestamp {
    let time: chrono::DateTime<chrono::Utc> = text.parse().expect("an RFC 3339 time");
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    }
}

/// Writes observations `(metric, account name or "", time, value)`.
pub async fn observe(app: &TestApp, rows: &[(&str, &str, &str, f64)]) {
    metric_client(app)
        .write_observations(pb::WriteObservationsRequest {
            observations: rows
                .iter()
                .map(|(metric_key, account, time, value)| pb::Observation {
                    metric_key: (*metric_key).to_owned(),
                    account: (*account).to_owned(),
                    observed_at: Some(at(time)),
                    value: *value,
                    source: "test".into(),
                    recorded_at: None,
                    recorded_by: String::new(),
                })
                .collect(),
        })
        .await
        .expect("write observations");
}

/// A goal from `start` to `deadline`, well framed for either framework.
pub fn goal(title: &str, framework: pb::goal::Framework, start: &str, deadline: &str) -> pb::Goal {
    pb::Goal {
        title: title.to_owned(),
        goal_type: pb::GoalType::BrandAwareness as i32,
        framework: framework as i32,
        business_objective: "Grow the business through social channels".into(),
        start_time: Some(at(start)),
        deadline: Some(at(deadline)),
        ..Default::default()
    }
}

/// Creates a goal, failing the test if that fails.
pub async fn create_goal(app: &TestApp, goal: pb::Goal) -> pb::Goal {
    goal_client(app)
        .create_goal(pb::CreateGoalRequest {
            goal: Some(goal),
            request_id: String::new(),
        })
        .await
        .expect("create a goal")
        .into_inner()
}

/// A metric key result over `accounts` (names, "" for the organisation-wide
/// series; empty for everything).
pub fn metric_key_result(metric_key: &str, accounts: &[&str], window_days: i32) -> pb::KeyResult {
    pb::KeyResult {
        title: format!("Move {metric_key}"),
        kind: pb::key_result::Kind::Metric as i32,
        metric_key: metric_key.to_owned(),
        accounts: accounts
            .iter()
            .map(|account| (*account).to_owned())
            .collect(),
        window_days,
        ..Default::default()
    }
}

/// A milestone key result with these steps.
pub fn milestone_key_result(steps: &[&str]) -> pb::KeyResult {
    pb::KeyResult {
        title: "Complete the steps".into(),
        kind: pb::key_result::Kind::Milestone as i32,
        milestones: steps
            .iter()
            .map(|title| pb::key_result::Milestone {
                title: (*title).to_owned(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// Adds a key result to `goal`, failing the test if that fails.
pub async fn add_key_result(
    app: &TestApp,
    goal: &pb::Goal,
    key_result: pb::KeyResult,
) -> pb::KeyResult {
    goal_client(app)
        .create_key_result(pb::CreateKeyResultRequest {
            parent: goal.name.clone(),
            key_result: Some(key_result),
            request_id: String::new(),
        })
        .await
        .expect("create a key result")
        .into_inner()
}

/// Marks milestone `index` of `key_result` done at `done_time`.
pub async fn mark_done(app: &TestApp, key_result: &pb::KeyResult, index: usize, done_time: &str) {
    goal_client(app)
        .set_milestone_done(pb::SetMilestoneDoneRequest {
            key_result: key_result.name.clone(),
            milestone_id: key_result.milestones[index].id.clone(),
            done: true,
            done_time: Some(at(done_time)),
            etag: String::new(),
        })
        .await
        .expect("mark a milestone done");
}

/// Activates `goal`, failing the test if that fails.
pub async fn activate(app: &TestApp, goal: &pb::Goal) {
    goal_client(app)
        .activate_goal(pb::ActivateGoalRequest {
            name: goal.name.clone(),
            etag: String::new(),
        })
        .await
        .expect("activate the goal");
}

/// The goal's progress at `as_of`.
pub async fn progress_at(app: &TestApp, goal: &pb::Goal, as_of: &str) -> pb::GoalProgress {
    progress_at_timestamp(app, goal, at(as_of)).await
}

/// [`progress_at`] of a timestamp.
pub async fn progress_at_timestamp(
    app: &TestApp,
    goal: &pb::Goal,
    as_of: prost_types::Timestamp,
) -> pb::GoalProgress {
    progress_client(app)
        .get_goal_progress(pb::GetGoalProgressRequest {
            goal: goal.name.clone(),
            as_of: Some(as_of),
        })
        .await
        .expect("get goal progress")
        .into_inner()
}

/// Asserts `found` is within 1e-9 of `expected`, relative to its size.
#[track_caller]
pub fn assert_close(found: f64, expected: f64, what: &str) {
    let tolerance = 1e-9 * expected.abs().max(1.0);
    assert!(
        (found - expected).abs() <= tolerance,
        "{what}: found {found}, expected {expected}"
    );
}

/// Asserts an optional value is present and close to `expected`.
#[track_caller]
pub fn assert_some_close(found: Option<f64>, expected: f64, what: &str) {
    assert_close(
        found.unwrap_or_else(|| panic!("{what}: no data")),
        expected,
        what,
    );
}

/// The status of a progress message as the enum.
pub fn status_of(value: i32) -> pb::ProgressStatus {
    pb::ProgressStatus::try_from(value).expect("a known status")
}
