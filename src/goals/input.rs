//! A goal's caller-owned fields, parsed from a request: once parsed, every
//! value is fit to store. Checks that need the database (the parent exists,
//! no cycle) live in the service.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model::{Framework, GoalType};
use crate::api::names::GOALS;
use crate::api::time;
use crate::api::validate::{self, Lines};
use crate::error::Violations;
use crate::pb;

#[cfg(test)]
mod properties;

/// A goal's caller-owned fields, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct GoalFields {
    /// 1 to 200 characters on one line.
    pub title: String,
    /// Up to 4000 characters.
    pub description: String,
    /// The business outcome served.
    pub goal_type: GoalType,
    /// How the goal is framed.
    pub framework: Framework,
    /// Up to 200 characters.
    pub owner: String,
    /// Up to 100 characters.
    pub team: String,
    /// The goal this one is aligned to (not yet checked to exist).
    pub parent: Option<Uuid>,
    /// Up to 1000 characters.
    pub business_objective: String,
    /// When the goal starts.
    pub start_time: Option<DateTime<Utc>>,
    /// When the goal must be reached; after `start_time` when both are set.
    pub deadline: Option<DateTime<Utc>>,
    /// In (0, 1].
    pub success_threshold: Option<f64>,
}

impl GoalFields {
    /// Validates every caller-owned field of `goal`, reporting violations as
    /// `{prefix}.{field}`. Returns `None` when anything is wrong.
    pub fn parse(violations: &mut Violations, prefix: &str, goal: &pb::Goal) -> Option<Self> {
        let before = violations.len();
        let field = |name: &str| format!("{prefix}.{name}");
        let title = validate::text(
            violations,
            &field("title"),
            &goal.title,
            200,
            true,
            Lines::Single,
        );
        let description = validate::text(
            violations,
            &field("description"),
            &goal.description,
            4000,
            false,
            Lines::Multi,
        );
        let goal_type = validate::enum_value::<pb::GoalType>(
            violations,
            &field("goal_type"),
            goal.goal_type,
            true,
        )
        .and_then(GoalType::from_proto);
        let framework = validate::enum_value::<pb::goal::Framework>(
            violations,
            &field("framework"),
            goal.framework,
            true,
        )
        .and_then(Framework::from_proto);
        let owner = validate::text(
            violations,
            &field("owner"),
            &goal.owner,
            200,
            false,
            Lines::Single,
        );
        let team = validate::text(
            violations,
            &field("team"),
            &goal.team,
            100,
            false,
            Lines::Single,
        );
        let parent = if goal.parent.is_empty() {
            None
        } else {
            violations.absorb(GOALS.parse(&field("parent"), &goal.parent))
        };
        let business_objective = validate::text(
            violations,
            &field("business_objective"),
            &goal.business_objective,
            1000,
            false,
            Lines::Multi,
        );
        let start_time = goal
            .start_time
            .as_ref()
            .and_then(|t| violations.absorb(time::from_proto(&field("start_time"), t)));
        let deadline = goal
            .deadline
            .as_ref()
            .and_then(|t| violations.absorb(time::from_proto(&field("deadline"), t)));
        if let (Some(start), Some(deadline)) = (start_time, deadline)
            && deadline <= start
        {
            violations.add(
                field("deadline"),
                format!(
                    "must be after start_time {}, got {}",
                    start.to_rfc3339(),
                    deadline.to_rfc3339()
                ),
            );
        }
        let success_threshold = goal.success_threshold;
        if let Some(threshold) = success_threshold
            && !(threshold > 0.0 && threshold <= 1.0)
        {
            violations.add(
                field("success_threshold"),
                format!(
                    "must be greater than 0 and at most 1, got {threshold}; leave it unset for the framework's default"
                ),
            );
        }
        if violations.len() != before {
            return None;
        }
        Some(GoalFields {
            title,
            description,
            goal_type: goal_type?,
            framework: framework?,
            owner,
            team,
            parent,
            business_objective,
            start_time,
            deadline,
            success_threshold,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;

    fn fields_of(violations: Violations) -> Vec<String> {
        match violations.finish(()) {
            Ok(()) => vec![],
            Err(ApiError::InvalidArgument(found)) => found.into_iter().map(|v| v.field).collect(),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn every_bad_goal_field_is_reported_at_once() {
        let goal = pb::Goal {
            title: " ".into(),
            goal_type: 42,
            owner: "a\0b".into(),
            parent: "goals/nope".into(),
            start_time: Some(prost_types::Timestamp {
                seconds: 2_000_000_000,
                nanos: 0,
            }),
            deadline: Some(prost_types::Timestamp {
                seconds: 1_000_000_000,
                nanos: 0,
            }),
            success_threshold: Some(f64::NAN),
            ..Default::default()
        };
        let mut violations = Violations::default();
        assert!(GoalFields::parse(&mut violations, "goal", &goal).is_none());
        assert_eq!(
            fields_of(violations),
            [
                "goal.title",
                "goal.goal_type",
                "goal.framework",
                "goal.owner",
                "goal.parent",
                "goal.deadline",
                "goal.success_threshold"
            ]
        );
    }
}
