//! Goals and key results between their domain form and protobuf.

use super::catalog::GoalTypeInfo;
use super::model::{
    BaselineSpec, Framework, Goal, GoalState, GoalType, KeyResult, Measure, TargetMode, TargetSpec,
};
use crate::api::enums::ProtoEnum;
use crate::api::names::{ACCOUNTS, GOALS, KEY_RESULTS};
use crate::api::{etag, time};
use crate::pb;
use crate::pb::goal::{Framework as PbFramework, State as PbState};
use crate::pb::key_result::{Kind as PbKind, TargetMode as PbTargetMode};

/// Implements [`ProtoEnum`] for a generated enum (for validation messages
/// and filters that list its values).
macro_rules! proto_enum {
    ($type:ty, $prefix:literal) => {
        impl ProtoEnum for $type {
            const PREFIX: &'static str = $prefix;
            fn proto_name(self) -> &'static str {
                self.as_str_name()
            }
            fn from_proto_name(name: &str) -> Option<Self> {
                Self::from_str_name(name)
            }
            fn from_number(number: i32) -> Option<Self> {
                Self::try_from(number).ok()
            }
        }
    };
}

proto_enum!(pb::GoalType, "GOAL_TYPE_");
proto_enum!(PbFramework, "FRAMEWORK_");
proto_enum!(PbState, "STATE_");
proto_enum!(PbKind, "KIND_");
proto_enum!(PbTargetMode, "TARGET_MODE_");

/// Maps a domain enum onto its proto enum and back; `*_UNSPECIFIED` has no
/// domain value.
macro_rules! enum_pair {
    ($domain:ident, $proto:ty, { $($variant:ident),+ $(,)? }) => {
        impl From<$domain> for $proto {
            fn from(value: $domain) -> Self {
                match value {
                    $($domain::$variant => <$proto>::$variant),+
                }
            }
        }

        impl $domain {
            /// The domain value of a proto value; `None` for unspecified.
            pub fn from_proto(value: $proto) -> Option<Self> {
                match value {
                    $(<$proto>::$variant => Some($domain::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

enum_pair!(Framework, PbFramework, { Smart, Okr });
enum_pair!(GoalState, PbState, { Draft, Active, Closed });
enum_pair!(TargetMode, PbTargetMode, { Reach, AtLeast, AtMost });
enum_pair!(GoalType, pb::GoalType, {
    BrandAwareness,
    BrandReputation,
    CommunityEngagement,
    Conversions,
    MarketInsights,
    LeadGeneration,
    CustomerService,
    Recruitment,
    CrisisManagement,
    InternalCommunications,
});

impl From<&Goal> for pb::Goal {
    fn from(goal: &Goal) -> Self {
        pb::Goal {
            name: GOALS.name(goal.id),
            title: goal.title.clone(),
            description: goal.description.clone(),
            goal_type: pb::GoalType::from(goal.goal_type) as i32,
            framework: PbFramework::from(goal.framework) as i32,
            state: PbState::from(goal.state) as i32,
            owner: goal.owner.clone(),
            team: goal.team.clone(),
            parent: goal.parent.map(|id| GOALS.name(id)).unwrap_or_default(),
            business_objective: goal.business_objective.clone(),
            start_time: time::to_proto_opt(goal.start_time),
            deadline: time::to_proto_opt(goal.deadline),
            success_threshold: goal.success_threshold,
            key_results: goal.key_results.iter().map(pb::KeyResult::from).collect(),
            create_time: Some(time::to_proto(goal.create_time)),
            update_time: Some(time::to_proto(goal.update_time)),
            etag: etag::etag(goal.revision),
        }
    }
}

impl From<&KeyResult> for pb::KeyResult {
    fn from(key_result: &KeyResult) -> Self {
        let mut message = pb::KeyResult {
            name: KEY_RESULTS.name(key_result.goal_id, key_result.id),
            title: key_result.title.clone(),
            weight: Some(key_result.weight),
            create_time: Some(time::to_proto(key_result.create_time)),
            update_time: Some(time::to_proto(key_result.update_time)),
            etag: etag::etag(key_result.revision),
            ..Default::default()
        };
        match &key_result.measure {
            Measure::Metric(metric) => {
                message.kind = PbKind::Metric as i32;
                message.metric_key.clone_from(&metric.metric_key);
                message.accounts = metric
                    .accounts
                    .iter()
                    .map(|account| account.map(|id| ACCOUNTS.name(id)).unwrap_or_default())
                    .collect();
                message.window_days = metric.window_days;
                message.target_mode = PbTargetMode::from(metric.target_mode) as i32;
                match metric.baseline {
                    BaselineSpec::Value(value) => message.baseline_value = Some(value),
                    BaselineSpec::Range { start, end } => {
                        message.baseline_start = Some(time::to_proto(start));
                        message.baseline_end = Some(time::to_proto(end));
                    }
                    BaselineSpec::Default => {}
                }
                match metric.target {
                    TargetSpec::Value(value) => message.target_value = Some(value),
                    TargetSpec::ChangePercent(percent) => {
                        message.target_change_percent = Some(percent);
                    }
                }
                message.checkpoints = metric
                    .checkpoints
                    .iter()
                    .map(|checkpoint| pb::key_result::Checkpoint {
                        time: Some(time::to_proto(checkpoint.time)),
                        target_value: checkpoint.target_value,
                    })
                    .collect();
            }
            Measure::Milestones(milestones) => {
                message.kind = PbKind::Milestone as i32;
                message.milestones = milestones
                    .iter()
                    .map(|milestone| pb::key_result::Milestone {
                        id: milestone.id.to_string(),
                        title: milestone.title.clone(),
                        done: milestone.done_time.is_some(),
                        done_time: time::to_proto_opt(milestone.done_time),
                    })
                    .collect();
            }
        }
        message
    }
}

impl From<&GoalTypeInfo> for pb::GoalTypeDefinition {
    fn from(info: &GoalTypeInfo) -> Self {
        pb::GoalTypeDefinition {
            goal_type: pb::GoalType::from(info.goal_type) as i32,
            display_name: info.display_name.to_owned(),
            description: info.description.to_owned(),
            recommended_metric_keys: info
                .recommended_metric_keys
                .iter()
                .map(|key| (*key).to_owned())
                .collect(),
            milestone_based: info.milestone_based,
            suggested_milestones: info
                .suggested_milestones
                .iter()
                .map(|title| (*title).to_owned())
                .collect(),
        }
    }
}

/// The goal fields UpdateGoal may change (AIP-134 paths).
pub const GOAL_UPDATABLE_FIELDS: &[&str] = &[
    "title",
    "description",
    "goal_type",
    "framework",
    "owner",
    "team",
    "parent",
    "business_objective",
    "start_time",
    "deadline",
    "success_threshold",
];

/// Copies the masked goal fields of `source` onto `target`.
pub fn apply_goal_mask(target: &mut pb::Goal, source: &pb::Goal, paths: &[&str]) {
    for path in paths {
        match *path {
            "title" => target.title.clone_from(&source.title),
            "description" => target.description.clone_from(&source.description),
            "goal_type" => target.goal_type = source.goal_type,
            "framework" => target.framework = source.framework,
            "owner" => target.owner.clone_from(&source.owner),
            "team" => target.team.clone_from(&source.team),
            "parent" => target.parent.clone_from(&source.parent),
            "business_objective" => target
                .business_objective
                .clone_from(&source.business_objective),
            "start_time" => target.start_time = source.start_time,
            "deadline" => target.deadline = source.deadline,
            "success_threshold" => target.success_threshold = source.success_threshold,
            _ => {}
        }
    }
}

/// Whether `goal` sets `path` to a non-default value (for an absent mask).
pub fn goal_is_populated(goal: &pb::Goal, path: &str) -> bool {
    match path {
        "title" => !goal.title.is_empty(),
        "description" => !goal.description.is_empty(),
        "goal_type" => goal.goal_type != 0,
        "framework" => goal.framework != 0,
        "owner" => !goal.owner.is_empty(),
        "team" => !goal.team.is_empty(),
        "parent" => !goal.parent.is_empty(),
        "business_objective" => !goal.business_objective.is_empty(),
        "start_time" => goal.start_time.is_some(),
        "deadline" => goal.deadline.is_some(),
        "success_threshold" => goal.success_threshold.is_some(),
        _ => false,
    }
}

/// The key result fields UpdateKeyResult may change (AIP-134 paths).
pub const KEY_RESULT_UPDATABLE_FIELDS: &[&str] = &[
    "title",
    "weight",
    "metric_key",
    "accounts",
    "window_days",
    "target_mode",
    "baseline_value",
    "baseline_start",
    "baseline_end",
    "target_value",
    "target_change_percent",
    "checkpoints",
    "milestones",
];

/// Copies the masked key result fields of `source` onto `target`.
pub fn apply_key_result_mask(target: &mut pb::KeyResult, source: &pb::KeyResult, paths: &[&str]) {
    for path in paths {
        match *path {
            "title" => target.title.clone_from(&source.title),
            "weight" => target.weight = source.weight,
            "metric_key" => target.metric_key.clone_from(&source.metric_key),
            "accounts" => target.accounts.clone_from(&source.accounts),
            "window_days" => target.window_days = source.window_days,
            "target_mode" => target.target_mode = source.target_mode,
            "baseline_value" => target.baseline_value = source.baseline_value,
            "baseline_start" => target.baseline_start = source.baseline_start,
            "baseline_end" => target.baseline_end = source.baseline_end,
            "target_value" => target.target_value = source.target_value,
            "target_change_percent" => target.target_change_percent = source.target_change_percent,
            "checkpoints" => target.checkpoints.clone_from(&source.checkpoints),
            "milestones" => target.milestones.clone_from(&source.milestones),
            _ => {}
        }
    }
}

/// Whether `key_result` sets `path` to a non-default value (for an absent mask).
pub fn key_result_is_populated(key_result: &pb::KeyResult, path: &str) -> bool {
    match path {
        "title" => !key_result.title.is_empty(),
        "weight" => key_result.weight.is_some(),
        "metric_key" => !key_result.metric_key.is_empty(),
        "accounts" => !key_result.accounts.is_empty(),
        "window_days" => key_result.window_days != 0,
        "target_mode" => key_result.target_mode != 0,
        "baseline_value" => key_result.baseline_value.is_some(),
        "baseline_start" => key_result.baseline_start.is_some(),
        "baseline_end" => key_result.baseline_end.is_some(),
        "target_value" => key_result.target_value.is_some(),
        "target_change_percent" => key_result.target_change_percent.is_some(),
        "checkpoints" => !key_result.checkpoints.is_empty(),
        "milestones" => !key_result.milestones.is_empty(),
        _ => false,
    }
}
