//! The framework checks a goal must pass to be activated. ActivateGoal
//! refuses a goal failing any; ProgressService.CheckGoal reports them all.

use chrono::{DateTime, Utc};

use super::model::{Framework, Goal, Measure};

/// Key results an OKR needs at least.
pub const MIN_OKR_KEY_RESULTS: usize = 1;
/// Key results an OKR may have at most.
pub const MAX_OKR_KEY_RESULTS: usize = 5;
/// Words a S.M.A.R.T. goal's title needs at least to count as specific.
pub const MIN_SPECIFIC_TITLE_WORDS: usize = 3;

/// The outcome of one framework check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoalCheck {
    /// The check's name: `SPECIFIC`, `MEASURABLE`, `RELEVANT`, `TIME_BOUND`
    /// or `KEY_RESULT_COUNT`, as in the proto's ActivateGoal.
    pub check: &'static str,
    /// Whether the goal passes it.
    pub passed: bool,
    /// What the check found, and for a failure how to fix it.
    pub message: String,
}

impl GoalCheck {
    fn new(check: &'static str, passed: bool, message: impl Into<String>) -> Self {
        GoalCheck {
            check,
            passed,
            message: message.into(),
        }
    }
}

/// Every check of the goal's framework, passed or not, with a goal without
/// a start time starting now (as activation would set it).
pub fn framework_checks(goal: &Goal) -> Vec<GoalCheck> {
    framework_checks_at(goal, Utc::now())
}

/// [`framework_checks`] with "now" given, for a goal without a start time.
pub fn framework_checks_at(goal: &Goal, now: DateTime<Utc>) -> Vec<GoalCheck> {
    let mut checks = Vec::new();
    match goal.framework {
        Framework::Smart => {
            checks.push(specific(goal));
            checks.push(measurable(goal));
            checks.push(relevant(goal));
        }
        Framework::Okr => checks.push(key_result_count(goal)),
    }
    checks.push(time_bound(goal, goal.start_time.unwrap_or(now)));
    checks
}

fn specific(goal: &Goal) -> GoalCheck {
    let words = goal.title.split_whitespace().count();
    if words >= MIN_SPECIFIC_TITLE_WORDS {
        GoalCheck::new("SPECIFIC", true, format!("the title has {words} words"))
    } else {
        GoalCheck::new(
            "SPECIFIC",
            false,
            format!(
                "the title has {words} word(s): say what will change, by how much and where, in at least {MIN_SPECIFIC_TITLE_WORDS} words"
            ),
        )
    }
}

fn measurable(goal: &Goal) -> GoalCheck {
    let metrics = goal
        .key_results
        .iter()
        .filter(|key_result| matches!(key_result.measure, Measure::Metric(_)))
        .count();
    if metrics > 0 {
        GoalCheck::new(
            "MEASURABLE",
            true,
            format!("the goal has {metrics} metric key result(s)"),
        )
    } else {
        GoalCheck::new(
            "MEASURABLE",
            false,
            "the goal has no metric key result: add one with CreateKeyResult",
        )
    }
}

fn relevant(goal: &Goal) -> GoalCheck {
    if goal.business_objective.trim().is_empty() {
        GoalCheck::new(
            "RELEVANT",
            false,
            "the goal names no business_objective: say which business objective it serves",
        )
    } else {
        GoalCheck::new("RELEVANT", true, "the goal names its business objective")
    }
}

fn key_result_count(goal: &Goal) -> GoalCheck {
    let count = goal.key_results.len();
    let range = MIN_OKR_KEY_RESULTS..=MAX_OKR_KEY_RESULTS;
    if range.contains(&count) {
        GoalCheck::new(
            "KEY_RESULT_COUNT",
            true,
            format!("the OKR has {count} key result(s)"),
        )
    } else {
        GoalCheck::new(
            "KEY_RESULT_COUNT",
            false,
            format!(
                "the OKR has {count} key result(s): an OKR needs {MIN_OKR_KEY_RESULTS} to {MAX_OKR_KEY_RESULTS}, about three"
            ),
        )
    }
}

fn time_bound(goal: &Goal, start: DateTime<Utc>) -> GoalCheck {
    let Some(deadline) = goal.deadline else {
        return GoalCheck::new(
            "TIME_BOUND",
            false,
            "the goal has no deadline: set one after its start_time",
        );
    };
    if deadline <= start {
        return GoalCheck::new(
            "TIME_BOUND",
            false,
            format!(
                "the deadline {} is not after the start {}: move it later",
                deadline.to_rfc3339(),
                start.to_rfc3339()
            ),
        );
    }
    let outside: Vec<String> = goal
        .key_results
        .iter()
        .flat_map(|key_result| key_result.checkpoints())
        .filter(|checkpoint| checkpoint.time <= start || checkpoint.time >= deadline)
        .map(|checkpoint| checkpoint.time.to_rfc3339())
        .collect();
    if outside.is_empty() {
        GoalCheck::new(
            "TIME_BOUND",
            true,
            format!(
                "the goal runs from {} to {}",
                start.to_rfc3339(),
                deadline.to_rfc3339()
            ),
        )
    } else {
        GoalCheck::new(
            "TIME_BOUND",
            false,
            format!(
                "checkpoint(s) at {} lie outside the goal's time frame ({}, {}): move them strictly between start and deadline",
                outside.join(", "),
                start.to_rfc3339(),
                deadline.to_rfc3339()
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use uuid::Uuid;

    use super::*;
    use crate::goals::model::{
        BaselineSpec, Checkpoint, GoalState, GoalType, KeyResult, MetricMeasure, Milestone,
        TargetMode, TargetSpec,
    };

    fn now() -> DateTime<Utc> {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    fn metric_key_result(checkpoints: Vec<Checkpoint>) -> KeyResult {
        KeyResult {
            id: Uuid::now_v7(),
            goal_id: Uuid::nil(),
            title: "Grow followers".into(),
            weight: 1.0,
            measure: Measure::Metric(MetricMeasure {
                metric_key: "followers".into(),
                accounts: vec![],
                window_days: 0,
                target_mode: TargetMode::Reach,
                baseline: BaselineSpec::Value(1000.0),
                target: TargetSpec::Value(2000.0),
                checkpoints,
            }),
            create_time: now(),
            update_time: now(),
            revision: 1,
        }
    }

    fn milestone_key_result() -> KeyResult {
        KeyResult {
            measure: Measure::Milestones(vec![Milestone {
                id: Uuid::now_v7(),
                title: "Write a policy".into(),
                done_time: None,
            }]),
            ..metric_key_result(vec![])
        }
    }

    fn goal(framework: Framework, key_results: Vec<KeyResult>) -> Goal {
        Goal {
            id: Uuid::now_v7(),
            title: "Grow Instagram followers by half".into(),
            description: String::new(),
            goal_type: GoalType::CommunityEngagement,
            framework,
            state: GoalState::Draft,
            owner: String::new(),
            team: String::new(),
            parent: None,
            business_objective: "Fill the pipeline".into(),
            start_time: None,
            deadline: Some(now() + TimeDelta::days(180)),
            success_threshold: None,
            key_results,
            create_time: now(),
            update_time: now(),
            revision: 1,
        }
    }

    fn failed(goal: &Goal) -> Vec<&'static str> {
        framework_checks_at(goal, now())
            .into_iter()
            .filter(|check| !check.passed)
            .map(|check| check.check)
            .collect()
    }

    #[test]
    fn a_well_framed_smart_goal_passes_every_check_in_order() {
        let goal = goal(Framework::Smart, vec![metric_key_result(vec![])]);
        let checks = framework_checks_at(&goal, now());
        let names: Vec<_> = checks.iter().map(|check| check.check).collect();
        assert_eq!(names, ["SPECIFIC", "MEASURABLE", "RELEVANT", "TIME_BOUND"]);
        assert!(checks.iter().all(|check| check.passed), "{checks:?}");
    }

    #[test]
    fn smart_failures_are_each_reported() {
        let cases = [
            (
                "short title, no metric, no objective, no deadline",
                Goal {
                    title: "Grow".into(),
                    business_objective: " ".into(),
                    deadline: None,
                    ..goal(Framework::Smart, vec![milestone_key_result()])
                },
                vec!["SPECIFIC", "MEASURABLE", "RELEVANT", "TIME_BOUND"],
            ),
            (
                "deadline equal to the start",
                Goal {
                    start_time: Some(now()),
                    deadline: Some(now()),
                    ..goal(Framework::Smart, vec![metric_key_result(vec![])])
                },
                vec!["TIME_BOUND"],
            ),
            (
                "checkpoint on the deadline",
                goal(
                    Framework::Smart,
                    vec![metric_key_result(vec![Checkpoint {
                        time: now() + TimeDelta::days(180),
                        target_value: 1500.0,
                    }])],
                ),
                vec!["TIME_BOUND"],
            ),
            (
                "checkpoint on the defaulted start",
                goal(
                    Framework::Smart,
                    vec![metric_key_result(vec![Checkpoint {
                        time: now(),
                        target_value: 1500.0,
                    }])],
                ),
                vec!["TIME_BOUND"],
            ),
        ];
        for (description, goal, expected) in cases {
            assert_eq!(failed(&goal), expected, "{description}");
        }
    }

    #[test]
    fn an_okr_needs_one_to_five_key_results() {
        let cases = [(0, false), (1, true), (5, true), (6, false)];
        for (count, passes) in cases {
            let goal = goal(Framework::Okr, vec![milestone_key_result(); count]);
            let expected: Vec<&str> = if passes {
                vec![]
            } else {
                vec!["KEY_RESULT_COUNT"]
            };
            assert_eq!(failed(&goal), expected, "{count} key results");
        }
    }
}
