//! GoalService through real gRPC calls: the goal lifecycle, key results and
//! milestones, bad input, listing, and writes racing each other. Builders
//! shared by the files below live here.

use goalpost::pb;
use goalpost::pb::goal::Framework;
use goalpost::pb::key_result::{Kind, Milestone};
use goalpost::pb::{GoalType, KeyResult};
use prost_types::{FieldMask, Timestamp};
use tonic::Status;

use crate::helpers::TestApp;

mod activation;
mod bad_input;
mod bad_updates;
mod cache;
mod key_results;
mod lifecycle;
mod listing;
mod milestones;
mod races;

/// A well-formed goal name that names no goal.
const MISSING_GOAL: &str = "goals/0190b6f4-5e6b-7c1d-9a2e-3f4a5b6c7d8e";

/// A protobuf timestamp from RFC 3339 text.
fn ts(text: &str) -> Timestamp {
    let time = chrono::DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    }
}

/// The start of the goals built here.
const START: &str = "2027-01-01T00:00:00Z";
/// The deadline of the goals built here.
const DEADLINE: &str = "2027-07-01T00:00:00Z";

/// A S.M.A.R.T. goal that passes every check once it has a metric key result.
fn smart_goal() -> pb::Goal {
    pb::Goal {
        title: "Grow Instagram followers by half".into(),
        description: "Followers of the main account.".into(),
        goal_type: GoalType::CommunityEngagement as i32,
        framework: Framework::Smart as i32,
        owner: "ada@example.com".into(),
        team: "social".into(),
        business_objective: "Fill the pipeline for the new product line".into(),
        start_time: Some(ts(START)),
        deadline: Some(ts(DEADLINE)),
        ..Default::default()
    }
}

/// An OKR with the same time frame.
fn okr_goal() -> pb::Goal {
    pb::Goal {
        title: "Be the brand people talk about".into(),
        goal_type: GoalType::BrandAwareness as i32,
        framework: Framework::Okr as i32,
        ..smart_goal()
    }
}

/// A metric key result: followers from 1000 to 2000.
fn metric_key_result() -> KeyResult {
    KeyResult {
        title: "Grow followers from 1,000 to 2,000".into(),
        kind: Kind::Metric as i32,
        metric_key: "followers".into(),
        baseline_value: Some(1000.0),
        target_value: Some(2000.0),
        ..Default::default()
    }
}

/// A milestone key result with steps titled `titles`.
fn milestone_key_result(titles: &[&str]) -> KeyResult {
    KeyResult {
        title: "Be ready for a crisis".into(),
        kind: Kind::Milestone as i32,
        milestones: titles
            .iter()
            .map(|title| Milestone {
                title: (*title).to_owned(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn create_goal_request(goal: pb::Goal) -> pb::CreateGoalRequest {
    pb::CreateGoalRequest {
        goal: Some(goal),
        request_id: String::new(),
    }
}

fn create_key_result_request(parent: &str, key_result: KeyResult) -> pb::CreateKeyResultRequest {
    pb::CreateKeyResultRequest {
        parent: parent.to_owned(),
        key_result: Some(key_result),
        request_id: String::new(),
    }
}

pub fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask {
        paths: paths.iter().map(|path| (*path).to_owned()).collect(),
    })
}

impl TestApp {
    /// Creates a goal and returns it.
    async fn create_goal(&self, goal: pb::Goal) -> pb::Goal {
        self.goals()
            .create_goal(create_goal_request(goal))
            .await
            .expect("create a goal")
            .into_inner()
    }

    /// Adds a key result to goal `parent` and returns it.
    async fn create_key_result(&self, parent: &str, key_result: KeyResult) -> KeyResult {
        self.goals()
            .create_key_result(create_key_result_request(parent, key_result))
            .await
            .expect("create a key result")
            .into_inner()
    }

    /// Reads a goal.
    async fn get_goal(&self, name: &str) -> pb::Goal {
        self.goals()
            .get_goal(pb::GetGoalRequest { name: name.into() })
            .await
            .expect("get a goal")
            .into_inner()
    }

    /// Activates a goal.
    async fn activate_goal(&self, name: &str) -> Result<pb::Goal, Status> {
        self.goals()
            .activate_goal(pb::ActivateGoalRequest {
                name: name.into(),
                etag: String::new(),
            })
            .await
            .map(|response| response.into_inner())
    }

    /// A SMART goal with one metric key result, activated.
    async fn active_smart_goal(&self) -> pb::Goal {
        let goal = self.create_goal(smart_goal()).await;
        self.create_key_result(&goal.name, metric_key_result())
            .await;
        self.activate_goal(&goal.name).await.expect("activate")
    }

    /// Every row of the goal tables as text, to check that a refused call
    /// changed nothing.
    async fn goal_tables(&self) -> Vec<String> {
        let mut rows = Vec::new();
        for table in [
            "goal",
            "key_result",
            "key_result_account",
            "key_result_checkpoint",
            "milestone",
        ] {
            let found: Vec<String> =
                sqlx::query_scalar(&format!("select t::text from {table} t order by t::text"))
                    .fetch_all(&self.pool)
                    .await
                    .expect("read the goal tables");
            rows.extend(found.into_iter().map(|row| format!("{table}: {row}")));
        }
        rows
    }
}
