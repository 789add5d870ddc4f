//! The writes of GoalService with bodies near valid ones: goals and key
//! results created and updated under any mask, and milestones marked done
//! at any time.

use goalpost::goals::convert::{GOAL_UPDATABLE_FIELDS, KEY_RESULT_UPDATABLE_FIELDS};
use goalpost::pb;
use goalpost::pb::key_result::{Checkpoint, Milestone};
use proptest::prelude::*;
use prost_types::FieldMask;
use tonic::Status;

use super::generators::{enum_number, hostile_f64, sometimes};
use super::writes::{mask, request_id};
use super::{Ctx, Fixture, Fuzz, Outcomes, answered, moment, near, near_text};

/// A valid OKR of the fixture's time frame, a few fields replaced.
fn goal(fixture: &Fixture) -> impl Strategy<Value = pb::Goal> + use<> {
    let parent = prop_oneof![
        Just(String::new()),
        near(prop::sample::select(fixture.goals.clone())),
    ];
    (
        (
            sometimes(near_text(&["Grow reach"])),
            sometimes(near_text(&["why\nand how"])),
            sometimes(enum_number(10)),
            sometimes(enum_number(2)),
            sometimes(near_text(&["Ana"])),
            sometimes(near_text(&["social"])),
        ),
        (
            sometimes(parent),
            sometimes(near_text(&["more customers"])),
            prop::option::of(moment()),
            prop::option::of(moment()),
            sometimes(prop::option::of(hostile_f64())),
        ),
    )
        .prop_map(|(first, second)| {
            let (title, description, goal_type, framework, owner, team) = first;
            let (parent, business_objective, start_time, deadline, success_threshold) = second;
            pb::Goal {
                title: title.unwrap_or_else(|| "Grow reach".into()),
                description: description.unwrap_or_default(),
                goal_type: goal_type.unwrap_or(1),
                framework: framework.unwrap_or(2),
                owner: owner.unwrap_or_default(),
                team: team.unwrap_or_default(),
                parent: parent.unwrap_or_default(),
                business_objective: business_objective.unwrap_or_else(|| "more customers".into()),
                start_time,
                deadline,
                success_threshold: success_threshold.flatten(),
                ..Default::default()
            }
        })
}

/// A valid metric or milestone key result over the fixture, a few fields
/// replaced.
fn key_result(fixture: &Fixture) -> impl Strategy<Value = pb::KeyResult> + use<> {
    let account = prop_oneof![
        Just(String::new()),
        near(prop::sample::select(fixture.accounts.clone())),
    ];
    let checkpoint = (prop::option::of(moment()), hostile_f64())
        .prop_map(|(time, target_value)| Checkpoint { time, target_value });
    let milestone = (
        near(prop::sample::select(fixture.milestone_ids.clone())),
        near_text(&["Launch"]),
    )
        .prop_map(|(id, title)| Milestone {
            id,
            title,
            ..Default::default()
        });
    (
        any::<bool>(),
        (
            sometimes(near_text(&["Reach 10k"])),
            sometimes(enum_number(2)),
            sometimes(hostile_f64()),
            sometimes(near(prop::sample::select(fixture.metric_keys.clone()))),
            sometimes(prop::collection::vec(account, 0..3)),
            sometimes(prop_oneof![0..=3660, any::<i32>()]),
            sometimes(enum_number(3)),
        ),
        (
            sometimes(hostile_f64()),
            sometimes((moment(), moment())),
            sometimes(hostile_f64()),
            sometimes(hostile_f64()),
            sometimes(prop::collection::vec(checkpoint, 0..4)),
            sometimes(prop::collection::vec(milestone, 0..4)),
        ),
    )
        .prop_map(|(metric, first, second)| {
            let (title, kind, weight, metric_key, accounts, window_days, target_mode) = first;
            let (baseline_value, baseline, target_value, percent, checkpoints, milestones) = second;
            let default_milestones = vec![Milestone {
                title: "Launch".into(),
                ..Default::default()
            }];
            pb::KeyResult {
                title: title.unwrap_or_else(|| "Reach 10k".into()),
                kind: kind.unwrap_or(if metric { 1 } else { 2 }),
                weight,
                metric_key: metric_key.unwrap_or_else(|| {
                    if metric {
                        "likes".into()
                    } else {
                        String::new()
                    }
                }),
                accounts: accounts.unwrap_or_default(),
                window_days: window_days.unwrap_or_default(),
                target_mode: target_mode.unwrap_or_default(),
                baseline_value,
                baseline_start: baseline.map(|(start, _)| start),
                baseline_end: baseline.map(|(_, end)| end),
                target_value: target_value.or(metric.then_some(100.0)),
                target_change_percent: percent,
                checkpoints: checkpoints.unwrap_or_default(),
                milestones: milestones.unwrap_or(if metric { vec![] } else { default_milestones }),
                ..Default::default()
            }
        })
}

#[derive(Debug, Clone)]
struct GoalWrites {
    goal: pb::Goal,
    request_id: String,
    goal_name: String,
    goal_mask: Option<FieldMask>,
    key_result: pb::KeyResult,
    key_result_name: String,
    key_result_mask: Option<FieldMask>,
    milestone_id: String,
    done: bool,
    done_time: Option<prost_types::Timestamp>,
}

fn goal_writes(fixture: &Fixture) -> impl Strategy<Value = GoalWrites> + use<> {
    (
        (
            goal(fixture),
            request_id(),
            near(prop::sample::select(fixture.goals.clone())),
            mask(GOAL_UPDATABLE_FIELDS),
        ),
        (
            key_result(fixture),
            near(prop::sample::select(fixture.key_results.clone())),
            mask(KEY_RESULT_UPDATABLE_FIELDS),
        ),
        (
            near(prop::sample::select(fixture.milestone_ids.clone())),
            any::<bool>(),
            prop::option::of(moment()),
        ),
    )
        .prop_map(|(goals, key_results, milestones)| {
            let (goal, request_id, goal_name, goal_mask) = goals;
            let (key_result, key_result_name, key_result_mask) = key_results;
            let (milestone_id, done, done_time) = milestones;
            GoalWrites {
                goal,
                request_id,
                goal_name,
                goal_mask,
                key_result,
                key_result_name,
                key_result_mask,
                milestone_id,
                done,
                done_time,
            }
        })
}

async fn write_goals(mut ctx: Ctx, writes: GoalWrites) -> Outcomes {
    let GoalWrites {
        goal,
        request_id,
        goal_name,
        goal_mask,
        key_result,
        key_result_name,
        key_result_mask,
        milestone_id,
        done,
        done_time,
    } = writes;
    let created = ctx
        .goals
        .create_goal(pb::CreateGoalRequest {
            goal: Some(goal.clone()),
            request_id: request_id.clone(),
        })
        .await
        .map(tonic::Response::into_inner);
    let mut outcomes: Outcomes = vec![(
        "CreateGoal",
        created.as_ref().map(drop).map_err(Status::clone),
    )];
    if let Ok(created) = created {
        outcomes.extend(lifecycle(&mut ctx, created.name, key_result.clone()).await);
    }
    let goals = &mut ctx.goals;
    outcomes.extend([
        (
            "UpdateGoal",
            answered(
                goals
                    .update_goal(pb::UpdateGoalRequest {
                        goal: Some(pb::Goal {
                            name: goal_name.clone(),
                            ..goal
                        }),
                        update_mask: goal_mask,
                    })
                    .await,
            ),
        ),
        (
            "CreateKeyResult",
            answered(
                goals
                    .create_key_result(pb::CreateKeyResultRequest {
                        parent: goal_name,
                        key_result: Some(key_result.clone()),
                        request_id,
                    })
                    .await,
            ),
        ),
        (
            "UpdateKeyResult",
            answered(
                goals
                    .update_key_result(pb::UpdateKeyResultRequest {
                        key_result: Some(pb::KeyResult {
                            name: key_result_name.clone(),
                            ..key_result
                        }),
                        update_mask: key_result_mask,
                    })
                    .await,
            ),
        ),
        (
            "SetMilestoneDone",
            answered(
                goals
                    .set_milestone_done(pb::SetMilestoneDoneRequest {
                        key_result: key_result_name,
                        milestone_id,
                        done,
                        done_time,
                        etag: String::new(),
                    })
                    .await,
            ),
        ),
    ]);
    outcomes
}

/// A goal created from fuzzed fields, taken through its life: a fuzzed key
/// result, activation (whose framework checks read every field), its
/// progress and check, and closing.
async fn lifecycle(ctx: &mut Ctx, goal: String, key_result: pb::KeyResult) -> Outcomes {
    let goals = &mut ctx.goals;
    let progress = &mut ctx.progress;
    vec![
        (
            "CreateKeyResult",
            answered(
                goals
                    .create_key_result(pb::CreateKeyResultRequest {
                        parent: goal.clone(),
                        key_result: Some(key_result),
                        request_id: String::new(),
                    })
                    .await,
            ),
        ),
        (
            "ActivateGoal",
            answered(
                goals
                    .activate_goal(pb::ActivateGoalRequest {
                        name: goal.clone(),
                        etag: String::new(),
                    })
                    .await,
            ),
        ),
        (
            "CheckGoal",
            answered(
                progress
                    .check_goal(pb::CheckGoalRequest {
                        goal: goal.clone(),
                        as_of: None,
                    })
                    .await,
            ),
        ),
        (
            "GetGoalProgress",
            answered(
                progress
                    .get_goal_progress(pb::GetGoalProgressRequest {
                        goal: goal.clone(),
                        as_of: None,
                    })
                    .await,
            ),
        ),
        (
            "GetProgressHistory",
            answered(
                progress
                    .get_progress_history(pb::GetProgressHistoryRequest {
                        goal: goal.clone(),
                        ..Default::default()
                    })
                    .await,
            ),
        ),
        (
            "CloseGoal",
            answered(
                goals
                    .close_goal(pb::CloseGoalRequest {
                        name: goal,
                        etag: String::new(),
                    })
                    .await,
            ),
        ),
    ]
}

#[test]
fn goal_writes_fail_only_deliberately() {
    let fuzz = Fuzz::start();
    fuzz.check(goal_writes(fuzz.fixture()), write_goals);
}
