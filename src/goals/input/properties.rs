//! Property tests of goal and key result input: anything a caller sends
//! either parses to fields fit to store or is rejected naming only the bad
//! fields.

use proptest::prelude::*;

use super::*;
use crate::api::fuzzing::{
    assert_only_field_violations, assert_storable, enum_number, hostile_f64, hostile_timestamp,
    name_near, sometimes, text_near,
};
use crate::api::names::ACCOUNTS;
use crate::goals::key_result_input::{self, MAX_WEIGHT, MAX_WINDOW_DAYS, MilestoneIds};
use crate::goals::model::{BaselineSpec, Measure, Milestone, TargetSpec};

fn goal() -> impl Strategy<Value = pb::Goal> {
    (
        (
            text_near(&["Grow reach"]),
            text_near(&["", "why\nand how"]),
            enum_number(10),
            enum_number(2),
            text_near(&["", "Ana"]),
            text_near(&["", "social"]),
        ),
        (
            prop_oneof![Just(String::new()), name_near(GOALS)],
            text_near(&["", "more customers"]),
            prop::option::of(hostile_timestamp()),
            prop::option::of(hostile_timestamp()),
            prop::option::of(hostile_f64()),
        ),
    )
        .prop_map(
            |(
                (title, description, goal_type, framework, owner, team),
                (parent, business_objective, start_time, deadline, success_threshold),
            )| pb::Goal {
                title,
                description,
                goal_type,
                framework,
                owner,
                team,
                parent,
                business_objective,
                start_time,
                deadline,
                success_threshold,
                ..Default::default()
            },
        )
}

/// Milestone ids: empty (a new milestone), one of the stored ones, or near one.
const STORED_MILESTONE: &str = "0190a4b2-7c3e-7f00-8000-000000000001";

/// A valid key result of either kind, with a few of its fields replaced by
/// anything: a fully random one would almost never get past its first check.
fn key_result() -> impl Strategy<Value = pb::KeyResult> {
    let checkpoint = (prop::option::of(hostile_timestamp()), hostile_f64())
        .prop_map(|(time, target_value)| pb::key_result::Checkpoint { time, target_value });
    let milestone = (
        text_near(&["", STORED_MILESTONE]),
        text_near(&["Launch"]),
        any::<bool>(),
    )
        .prop_map(|(id, title, done)| pb::key_result::Milestone {
            id,
            title,
            done,
            done_time: None,
        });
    let metric = pb::KeyResult {
        title: "Reach 10k".into(),
        kind: pb::key_result::Kind::Metric as i32,
        metric_key: "likes".into(),
        target_value: Some(10_000.0),
        ..Default::default()
    };
    let milestones = pb::KeyResult {
        title: "Ship it".into(),
        kind: pb::key_result::Kind::Milestone as i32,
        milestones: vec![pb::key_result::Milestone {
            title: "Launch".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    (
        prop::sample::select(vec![metric, milestones]),
        (
            sometimes(text_near(&["Reach 10k"])),
            sometimes(enum_number(2)),
            sometimes(prop::option::of(hostile_f64())),
            sometimes(text_near(&["likes", "engagement_rate"])),
            sometimes(prop::collection::vec(
                prop_oneof![Just(String::new()), name_near(ACCOUNTS)],
                0..4,
            )),
            sometimes(prop_oneof![0..=MAX_WINDOW_DAYS, any::<i32>()]),
            sometimes(enum_number(3)),
        ),
        (
            sometimes(prop::option::of(hostile_f64())),
            sometimes(prop::option::of(hostile_timestamp())),
            sometimes(prop::option::of(hostile_timestamp())),
            sometimes(prop::option::of(hostile_f64())),
            sometimes(prop::option::of(hostile_f64())),
            sometimes(prop::collection::vec(checkpoint, 0..4)),
            sometimes(prop::collection::vec(milestone, 0..4)),
        ),
    )
        .prop_map(|(base, first, second)| {
            let (title, kind, weight, metric_key, accounts, window_days, target_mode) = first;
            let (
                baseline_value,
                baseline_start,
                baseline_end,
                target_value,
                target_change_percent,
                checkpoints,
                milestones,
            ) = second;
            pb::KeyResult {
                title: title.unwrap_or(base.title),
                kind: kind.unwrap_or(base.kind),
                weight: weight.unwrap_or(base.weight),
                metric_key: metric_key.unwrap_or(base.metric_key),
                accounts: accounts.unwrap_or(base.accounts),
                window_days: window_days.unwrap_or(base.window_days),
                target_mode: target_mode.unwrap_or(base.target_mode),
                baseline_value: baseline_value.unwrap_or(base.baseline_value),
                baseline_start: baseline_start.unwrap_or(base.baseline_start),
                baseline_end: baseline_end.unwrap_or(base.baseline_end),
                target_value: target_value.unwrap_or(base.target_value),
                target_change_percent: target_change_percent.unwrap_or(base.target_change_percent),
                checkpoints: checkpoints.unwrap_or(base.checkpoints),
                milestones: milestones.unwrap_or(base.milestones),
                ..Default::default()
            }
        })
}

fn printable(time: DateTime<Utc>) -> bool {
    (1..=9999).contains(&chrono::Datelike::year(&time))
}

fn bounded(value: f64) -> bool {
    value.abs() <= validate::MAX_VALUE_MAGNITUDE
}

proptest! {
    #[test]
    fn goals_parse_to_storable_fields_or_name_their_bad_fields(goal in goal()) {
        let mut violations = Violations::default();
        let parsed = GoalFields::parse(&mut violations, "goal", &goal);
        prop_assert_eq!(parsed.is_some(), violations.is_empty());
        if let Some(fields) = parsed {
            assert_storable(&fields.title, 200, Lines::Single);
            prop_assert!(!fields.title.is_empty());
            assert_storable(&fields.description, 4000, Lines::Multi);
            assert_storable(&fields.owner, 200, Lines::Single);
            assert_storable(&fields.team, 100, Lines::Single);
            assert_storable(&fields.business_objective, 1000, Lines::Multi);
            prop_assert!(fields.start_time.is_none_or(printable));
            prop_assert!(fields.deadline.is_none_or(printable));
            if let (Some(start), Some(deadline)) = (fields.start_time, fields.deadline) {
                prop_assert!(start < deadline);
            }
            prop_assert!(fields.success_threshold.is_none_or(|t| t > 0.0 && t <= 1.0));
            prop_assert_eq!(fields.parent.map(|id| GOALS.name(id)), Some(goal.parent.clone())
                .filter(|parent| !parent.is_empty()));
        }
        assert_only_field_violations(violations, |field| field.starts_with("goal."));
    }

    #[test]
    fn key_results_parse_to_storable_fields_or_name_their_bad_fields(
        key_result in key_result(),
        updating in any::<bool>(),
    ) {
        let stored = [Milestone {
            id: Uuid::parse_str(STORED_MILESTONE).unwrap(),
            title: "Launch".into(),
            done_time: None,
        }];
        let ids = if updating { MilestoneIds::Keep(&stored) } else { MilestoneIds::Ignore };
        let mut violations = Violations::default();
        let parsed = key_result_input::parse(&mut violations, "key_result", &key_result, ids);
        prop_assert_eq!(parsed.fields.is_some(), violations.is_empty());
        for (index, id) in &parsed.accounts {
            prop_assert_eq!(ACCOUNTS.name(*id), key_result.accounts[*index].clone());
        }
        if let Some(fields) = parsed.fields {
            assert_storable(&fields.title, 200, Lines::Single);
            prop_assert!(fields.weight > 0.0 && fields.weight <= MAX_WEIGHT);
            match fields.measure {
                Measure::Metric(metric) => {
                    assert_storable(&metric.metric_key, 63, Lines::Single);
                    prop_assert!((0..=MAX_WINDOW_DAYS).contains(&metric.window_days));
                    match metric.baseline {
                        BaselineSpec::Value(value) => prop_assert!(bounded(value)),
                        BaselineSpec::Range { start, end } => {
                            prop_assert!(printable(start) && printable(end) && start < end);
                        }
                        BaselineSpec::Default => {}
                    }
                    match metric.target {
                        TargetSpec::Value(value) => prop_assert!(bounded(value)),
                        TargetSpec::ChangePercent(percent) => {
                            prop_assert!(bounded(percent) && percent >= -100.0 && percent != 0.0);
                        }
                    }
                    for pair in metric.checkpoints.windows(2) {
                        prop_assert!(pair[0].time < pair[1].time);
                    }
                    for checkpoint in &metric.checkpoints {
                        prop_assert!(printable(checkpoint.time) && bounded(checkpoint.target_value));
                    }
                }
                Measure::Milestones(milestones) => {
                    prop_assert!(!milestones.is_empty());
                    for milestone in &milestones {
                        assert_storable(&milestone.title, 200, Lines::Single);
                        prop_assert!(!milestone.title.is_empty());
                    }
                }
            }
        }
        assert_only_field_violations(violations, |field| field.starts_with("key_result."));
    }
}
