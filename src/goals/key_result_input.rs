//! A key result's caller-owned fields, parsed from a request. What needs the
//! database (the metric and the accounts exist, checkpoints fit an active
//! goal's time frame) is left for the service, with the references it must
//! check collected here.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model::{
    BaselineSpec, Checkpoint, Measure, MetricMeasure, Milestone, TargetMode, TargetSpec,
};
use crate::api::names::{ACCOUNTS, new_id};
use crate::api::time;
use crate::api::validate::{self, Lines};
use crate::error::Violations;
use crate::pb;
use crate::pb::key_result::{Kind, TargetMode as PbTargetMode};

/// The most accounts a metric key result may select.
pub const MAX_ACCOUNTS: usize = 100;
/// The most checkpoints a metric key result may have.
pub const MAX_CHECKPOINTS: usize = 100;
/// The most milestones a milestone key result may have.
pub const MAX_MILESTONES: usize = 50;
/// The widest trailing window, in days (about ten years).
pub const MAX_WINDOW_DAYS: i32 = 3660;
/// The largest weight.
pub const MAX_WEIGHT: f64 = 1000.0;

/// How milestone ids in the request are read.
#[derive(Debug, Clone, Copy)]
pub enum MilestoneIds<'a> {
    /// On create: ids and done states are ignored; every milestone is new.
    Ignore,
    /// On update: an id names one of these stored milestones, which keeps its
    /// done state; no id means a new milestone; an unknown id is a violation.
    Keep(&'a [Milestone]),
}

/// A key result's caller-owned fields, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyResultFields {
    /// 1 to 200 characters on one line.
    pub title: String,
    /// In (0, 1000].
    pub weight: f64,
    /// The definition, milestone ids resolved.
    pub measure: Measure,
}

/// What parsing found: the fields when all are valid, and the references the
/// database must confirm in any case, so that every violation is reported
/// at once.
#[derive(Debug, Clone, Default)]
pub struct ParsedKeyResult {
    /// The fields, when every check so far passed.
    pub fields: Option<KeyResultFields>,
    /// A well-formed metric key to look up in the catalog.
    pub metric_key: Option<String>,
    /// Well-formed account ids to look up, with their index in `accounts`.
    pub accounts: Vec<(usize, Uuid)>,
}

/// Validates `key_result`, reporting violations as `{prefix}.{field}`.
pub fn parse(
    violations: &mut Violations,
    prefix: &str,
    key_result: &pb::KeyResult,
    milestone_ids: MilestoneIds<'_>,
) -> ParsedKeyResult {
    let before = violations.len();
    let field = |name: &str| format!("{prefix}.{name}");
    let title = validate::text(
        violations,
        &field("title"),
        &key_result.title,
        200,
        true,
        Lines::Single,
    );
    let weight = match key_result.weight {
        None => 1.0,
        Some(weight) if weight > 0.0 && weight <= MAX_WEIGHT => weight,
        Some(weight) => {
            violations.add(
                field("weight"),
                format!(
                    "must be a number greater than 0 and at most {MAX_WEIGHT}, got {weight}; leave it unset for the default, 1"
                ),
            );
            1.0
        }
    };
    let kind = validate::enum_value::<Kind>(violations, &field("kind"), key_result.kind, true);
    let mut parsed = ParsedKeyResult::default();
    let measure = match kind {
        Some(Kind::Metric) => parse_metric(violations, prefix, key_result, &mut parsed),
        Some(Kind::Milestone) => parse_milestones(violations, prefix, key_result, milestone_ids),
        Some(Kind::Unspecified) | None => None,
    };
    if violations.len() == before
        && let Some(measure) = measure
    {
        parsed.fields = Some(KeyResultFields {
            title,
            weight,
            measure,
        });
    }
    parsed
}

fn parse_metric(
    violations: &mut Violations,
    prefix: &str,
    key_result: &pb::KeyResult,
    parsed: &mut ParsedKeyResult,
) -> Option<Measure> {
    let field = |name: &str| format!("{prefix}.{name}");
    let before = violations.len();
    let metric_key = validate::text(
        violations,
        &field("metric_key"),
        &key_result.metric_key,
        63,
        true,
        Lines::Single,
    );
    if violations.len() == before {
        parsed.metric_key = Some(metric_key.clone());
    }
    let accounts = parse_accounts(violations, prefix, &key_result.accounts, parsed);
    let window_days = key_result.window_days;
    if !(0..=MAX_WINDOW_DAYS).contains(&window_days) {
        violations.add(
            field("window_days"),
            format!(
                "must be from 0 (cumulative since the goal's start) to {MAX_WINDOW_DAYS} days, got {window_days}"
            ),
        );
    }
    let target_mode = validate::enum_value::<PbTargetMode>(
        violations,
        &field("target_mode"),
        key_result.target_mode,
        false,
    )
    .map_or(Some(TargetMode::Reach), TargetMode::from_proto);
    let baseline = parse_baseline(violations, prefix, key_result);
    let target = parse_target(violations, prefix, key_result, baseline);
    let checkpoints = parse_checkpoints(violations, prefix, &key_result.checkpoints);
    if !key_result.milestones.is_empty() {
        violations.add(
            field("milestones"),
            "must be empty for a metric key result: milestones belong to KIND_MILESTONE key results",
        );
    }
    Some(Measure::Metric(MetricMeasure {
        metric_key,
        accounts,
        window_days,
        target_mode: target_mode?,
        baseline: baseline?,
        target: target?,
        checkpoints,
    }))
}

fn parse_accounts(
    violations: &mut Violations,
    prefix: &str,
    accounts: &[String],
    parsed: &mut ParsedKeyResult,
) -> Vec<Option<Uuid>> {
    if accounts.len() > MAX_ACCOUNTS {
        violations.add(
            format!("{prefix}.accounts"),
            format!(
                "holds {} accounts, at most {MAX_ACCOUNTS} may be selected: leave it empty to measure every account",
                accounts.len()
            ),
        );
        return Vec::new();
    }
    let mut first_index_of: HashMap<Option<Uuid>, usize> = HashMap::new();
    let mut selected = Vec::with_capacity(accounts.len());
    for (index, name) in accounts.iter().enumerate() {
        let field = format!("{prefix}.accounts[{index}]");
        let account = if name.is_empty() {
            None
        } else {
            match violations.absorb(ACCOUNTS.parse(&field, name)) {
                Some(id) => Some(id),
                None => continue,
            }
        };
        if let Some(first) = first_index_of.insert(account, index) {
            violations.add(
                field,
                format!("repeats accounts[{first}]: select each account once"),
            );
            continue;
        }
        if let Some(id) = account {
            parsed.accounts.push((index, id));
        }
        selected.push(account);
    }
    selected
}

fn parse_baseline(
    violations: &mut Violations,
    prefix: &str,
    key_result: &pb::KeyResult,
) -> Option<BaselineSpec> {
    let field = |name: &str| format!("{prefix}.{name}");
    let before = violations.len();
    if let Some(value) = key_result.baseline_value {
        validate::bounded_value(violations, || field("baseline_value"), value);
    }
    let start = key_result
        .baseline_start
        .as_ref()
        .and_then(|t| violations.absorb(time::from_proto(&field("baseline_start"), t)));
    let end = key_result
        .baseline_end
        .as_ref()
        .and_then(|t| violations.absorb(time::from_proto(&field("baseline_end"), t)));
    match (
        key_result.baseline_start.is_some(),
        key_result.baseline_end.is_some(),
    ) {
        (true, false) => violations.add(
            field("baseline_end"),
            "must be set together with baseline_start",
        ),
        (false, true) => violations.add(
            field("baseline_start"),
            "must be set together with baseline_end",
        ),
        _ => {}
    }
    if let (Some(start), Some(end)) = (start, end)
        && end <= start
    {
        violations.add(
            field("baseline_end"),
            format!(
                "must be after baseline_start {}, got {}",
                start.to_rfc3339(),
                end.to_rfc3339()
            ),
        );
    }
    if violations.len() != before {
        return None;
    }
    // An explicit value wins over a range, as the proto says.
    Some(match (key_result.baseline_value, start, end) {
        (Some(value), _, _) => BaselineSpec::Value(value),
        (None, Some(start), Some(end)) => BaselineSpec::Range { start, end },
        _ => BaselineSpec::Default,
    })
}

fn parse_target(
    violations: &mut Violations,
    prefix: &str,
    key_result: &pb::KeyResult,
    baseline: Option<BaselineSpec>,
) -> Option<TargetSpec> {
    let field = |name: &str| format!("{prefix}.{name}");
    match (key_result.target_value, key_result.target_change_percent) {
        (None, None) => {
            violations.add(
                field("target_value"),
                "a metric key result needs exactly one of target_value and target_change_percent",
            );
            None
        }
        (Some(_), Some(_)) => {
            violations.add(
                field("target_change_percent"),
                "is exclusive with target_value: set only one of them",
            );
            None
        }
        (Some(value), None) => {
            if !validate::bounded_value(violations, || field("target_value"), value) {
                return None;
            }
            if baseline == Some(BaselineSpec::Value(value)) {
                violations.add(
                    field("target_value"),
                    format!(
                        "equals baseline_value {value}: a target must differ from its baseline"
                    ),
                );
                return None;
            }
            Some(TargetSpec::Value(value))
        }
        (None, Some(percent)) => {
            if !validate::bounded_value(violations, || field("target_change_percent"), percent) {
                return None;
            }
            if percent < -100.0 {
                violations.add(
                    field("target_change_percent"),
                    format!("must be at least -100 (a drop to zero), got {percent}"),
                );
                return None;
            }
            if percent == 0.0 {
                violations.add(
                    field("target_change_percent"),
                    "must not be 0: the target would equal the baseline",
                );
                return None;
            }
            Some(TargetSpec::ChangePercent(percent))
        }
    }
}

/// Checkpoints sorted by time, each time given once.
fn parse_checkpoints(
    violations: &mut Violations,
    prefix: &str,
    checkpoints: &[pb::key_result::Checkpoint],
) -> Vec<Checkpoint> {
    if checkpoints.len() > MAX_CHECKPOINTS {
        violations.add(
            format!("{prefix}.checkpoints"),
            format!(
                "holds {} checkpoints, at most {MAX_CHECKPOINTS} are allowed",
                checkpoints.len()
            ),
        );
        return Vec::new();
    }
    let mut first_index_of: HashMap<DateTime<Utc>, usize> = HashMap::new();
    let mut parsed = Vec::with_capacity(checkpoints.len());
    for (index, checkpoint) in checkpoints.iter().enumerate() {
        let field = |name: &str| format!("{prefix}.checkpoints[{index}].{name}");
        validate::bounded_value(
            violations,
            || field("target_value"),
            checkpoint.target_value,
        );
        let Some(timestamp) = &checkpoint.time else {
            violations.add(field("time"), "is required");
            continue;
        };
        let Some(time) = violations.absorb(time::from_proto(&field("time"), timestamp)) else {
            continue;
        };
        if let Some(first) = first_index_of.insert(time, index) {
            violations.add(
                field("time"),
                format!(
                    "repeats the time of checkpoints[{first}]: give each checkpoint its own time"
                ),
            );
            continue;
        }
        parsed.push(Checkpoint {
            time,
            target_value: checkpoint.target_value,
        });
    }
    parsed.sort_by_key(|checkpoint| checkpoint.time);
    parsed
}

fn parse_milestones(
    violations: &mut Violations,
    prefix: &str,
    key_result: &pb::KeyResult,
    milestone_ids: MilestoneIds<'_>,
) -> Option<Measure> {
    let field = |name: &str| format!("{prefix}.{name}");
    let not_for_milestones = "must be empty for a milestone key result";
    let metric_only: [(&str, bool); 10] = [
        ("metric_key", !key_result.metric_key.is_empty()),
        ("accounts", !key_result.accounts.is_empty()),
        ("window_days", key_result.window_days != 0),
        ("target_mode", key_result.target_mode != 0),
        ("baseline_value", key_result.baseline_value.is_some()),
        ("baseline_start", key_result.baseline_start.is_some()),
        ("baseline_end", key_result.baseline_end.is_some()),
        ("target_value", key_result.target_value.is_some()),
        (
            "target_change_percent",
            key_result.target_change_percent.is_some(),
        ),
        ("checkpoints", !key_result.checkpoints.is_empty()),
    ];
    for (name, set) in metric_only {
        if set {
            violations.add(field(name), not_for_milestones);
        }
    }
    let count = key_result.milestones.len();
    if !(1..=MAX_MILESTONES).contains(&count) {
        violations.add(
            field("milestones"),
            format!("a milestone key result needs 1 to {MAX_MILESTONES} milestones, got {count}"),
        );
        return None;
    }
    let stored: HashMap<Uuid, &Milestone> = match milestone_ids {
        MilestoneIds::Ignore => HashMap::new(),
        MilestoneIds::Keep(stored) => stored.iter().map(|m| (m.id, m)).collect(),
    };
    let mut seen = HashSet::new();
    let mut milestones = Vec::with_capacity(count);
    for (index, milestone) in key_result.milestones.iter().enumerate() {
        let field = |name: &str| format!("{prefix}.milestones[{index}].{name}");
        let title = validate::text(
            violations,
            &field("title"),
            &milestone.title,
            200,
            true,
            Lines::Single,
        );
        let kept = match milestone_ids {
            MilestoneIds::Keep(_) if !milestone.id.is_empty() => {
                let known = Uuid::try_parse(&milestone.id)
                    .ok()
                    .and_then(|id| stored.get(&id));
                match known {
                    Some(known) if seen.insert(known.id) => Some(*known),
                    Some(_) => {
                        violations.add(field("id"), "repeats the id of another milestone");
                        continue;
                    }
                    None => {
                        violations.add(
                            field("id"),
                            format!(
                                "{:?} is not the id of a milestone of this key result: leave it empty for a new milestone",
                                milestone.id
                            ),
                        );
                        continue;
                    }
                }
            }
            _ => None,
        };
        milestones.push(Milestone {
            id: kept.map_or_else(new_id, |known| known.id),
            title,
            done_time: kept.and_then(|known| known.done_time),
        });
    }
    Some(Measure::Milestones(milestones))
}
