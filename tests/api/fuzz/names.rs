//! Every method that takes a resource name, sent names that exist, names of
//! nothing, other spellings of real ids and garbage. Methods that change or
//! delete carry a stale etag, so the fixture survives the names that work.

use std::time::Duration;

use goalpost::pb;
use proptest::prelude::*;
use uuid::Uuid;

use super::{Ctx, Fixture, Fuzz, Outcomes, answered, moment, near, near_text};

/// Names of the fixture, well-formed names of nothing, and their edits.
fn name(fixture: &Fixture) -> impl Strategy<Value = String> + use<> {
    let uuid = any::<u128>().prop_map(Uuid::from_u128);
    let valid = prop_oneof![
        3 => prop::sample::select(fixture.names()),
        1 => (prop::sample::select(vec!["accounts", "audits", "goals"]), uuid.clone())
            .prop_map(|(collection, id)| format!("{collection}/{id}")),
        1 => (prop::sample::select(fixture.goals.clone()), uuid)
            .prop_map(|(goal, id)| format!("{goal}/keyResults/{id}")),
        1 => "[a-z][a-z0-9_]{0,70}".prop_map(|key| format!("metrics/{key}")),
    ];
    near(valid)
}

/// An etag that matches no revision of the fixture (an empty one would
/// skip the check).
fn stale_etag() -> impl Strategy<Value = String> {
    near_text(&["r999999"]).prop_map(|etag| {
        if etag.is_empty() {
            "r999999".to_owned()
        } else {
            etag
        }
    })
}

#[derive(Debug, Clone)]
struct Named {
    name: String,
    etag: String,
    milestone_id: String,
    as_of: Option<prost_types::Timestamp>,
    /// How many times WatchGoalProgress names the goal: none and repeats
    /// are requests too.
    watched: usize,
}

fn named(fixture: &Fixture) -> impl Strategy<Value = Named> + use<> {
    (
        name(fixture),
        stale_etag(),
        near(prop::sample::select(fixture.milestone_ids.clone())),
        prop::option::of(moment()),
        prop_oneof![4 => Just(1usize), 1 => 0..4usize],
    )
        .prop_map(|(name, etag, milestone_id, as_of, watched)| Named {
            name,
            etag,
            milestone_id,
            as_of,
            watched,
        })
}

/// The first message of a watch, or nothing if none comes soon.
async fn watch_first(ctx: &mut Ctx, goals: Vec<String>) -> Result<(), tonic::Status> {
    let mut stream = ctx
        .progress
        .watch_goal_progress(pb::WatchGoalProgressRequest { goals })
        .await?
        .into_inner();
    match tokio::time::timeout(Duration::from_millis(200), stream.message()).await {
        Ok(message) => message.map(drop),
        Err(_) => Ok(()),
    }
}

async fn call_every_named_method(mut ctx: Ctx, call: Named) -> Outcomes {
    let Named {
        name,
        etag,
        milestone_id,
        as_of,
        watched,
    } = call;
    let fixture = ctx.fixture.clone();
    let audits = &mut ctx.audits;
    let goals = &mut ctx.goals;
    let metrics = &mut ctx.metrics;
    let progress = &mut ctx.progress;
    let name_only = || name.clone();
    let mut outcomes: Outcomes = vec![
        (
            "GetAccount",
            answered(
                audits
                    .get_account(pb::GetAccountRequest { name: name_only() })
                    .await,
            ),
        ),
        (
            "DeleteAccount",
            answered(
                audits
                    .delete_account(pb::DeleteAccountRequest {
                        name: name_only(),
                        etag: etag.clone(),
                    })
                    .await,
            ),
        ),
        (
            "GetAudit",
            answered(
                audits
                    .get_audit(pb::GetAuditRequest { name: name_only() })
                    .await,
            ),
        ),
        (
            "CompleteAudit",
            answered(
                audits
                    .complete_audit(pb::CompleteAuditRequest {
                        name: name_only(),
                        etag: etag.clone(),
                    })
                    .await,
            ),
        ),
        (
            "UpsertAuditEntry",
            answered(
                audits
                    .upsert_audit_entry(pb::UpsertAuditEntryRequest {
                        audit: name_only(),
                        entry: Some(pb::AuditEntry {
                            account: fixture.accounts[1].clone(),
                            ..Default::default()
                        }),
                        etag: etag.clone(),
                    })
                    .await,
            ),
        ),
        (
            "GetGoal",
            answered(
                goals
                    .get_goal(pb::GetGoalRequest { name: name_only() })
                    .await,
            ),
        ),
        (
            "DeleteGoal",
            answered(
                goals
                    .delete_goal(pb::DeleteGoalRequest {
                        name: name_only(),
                        etag: etag.clone(),
                    })
                    .await,
            ),
        ),
        (
            "ActivateGoal",
            answered(
                goals
                    .activate_goal(pb::ActivateGoalRequest {
                        name: name_only(),
                        etag: etag.clone(),
                    })
                    .await,
            ),
        ),
        (
            "CloseGoal",
            answered(
                goals
                    .close_goal(pb::CloseGoalRequest {
                        name: name_only(),
                        etag: etag.clone(),
                    })
                    .await,
            ),
        ),
        (
            "GetKeyResult",
            answered(
                goals
                    .get_key_result(pb::GetKeyResultRequest { name: name_only() })
                    .await,
            ),
        ),
        (
            "DeleteKeyResult",
            answered(
                goals
                    .delete_key_result(pb::DeleteKeyResultRequest {
                        name: name_only(),
                        etag: etag.clone(),
                    })
                    .await,
            ),
        ),
        (
            "SetMilestoneDone",
            answered(
                goals
                    .set_milestone_done(pb::SetMilestoneDoneRequest {
                        key_result: name_only(),
                        milestone_id,
                        done: true,
                        done_time: as_of,
                        etag: etag.clone(),
                    })
                    .await,
            ),
        ),
        (
            "GetMetricDefinition",
            answered(
                metrics
                    .get_metric_definition(pb::GetMetricDefinitionRequest { name: name_only() })
                    .await,
            ),
        ),
        (
            "GetGoalProgress",
            answered(
                progress
                    .get_goal_progress(pb::GetGoalProgressRequest {
                        goal: name_only(),
                        as_of,
                    })
                    .await,
            ),
        ),
        (
            "GetProgressHistory",
            answered(
                progress
                    .get_progress_history(pb::GetProgressHistoryRequest {
                        goal: name_only(),
                        ..Default::default()
                    })
                    .await,
            ),
        ),
        (
            "CheckGoal",
            answered(
                progress
                    .check_goal(pb::CheckGoalRequest {
                        goal: name_only(),
                        as_of,
                    })
                    .await,
            ),
        ),
    ];
    let watched = vec![name; watched];
    outcomes.push(("WatchGoalProgress", watch_first(&mut ctx, watched).await));
    outcomes
}

#[test]
fn named_calls_fail_only_deliberately() {
    let fuzz = Fuzz::start();
    fuzz.check(named(fuzz.fixture()), call_every_named_method);
}
