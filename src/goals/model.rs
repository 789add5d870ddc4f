//! Goals and key results as the rest of goalpost sees them: validated, with
//! enums decoded once where rows are read, and no protobuf. The progress
//! engine computes from these types.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// How a goal is framed, which decides its checks and its default success
/// threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Framework {
    /// Specific, measurable, achievable, relevant, time-bound; succeeds at 1.0.
    Smart,
    /// An objective with 1–5 key results; succeeds at 0.7, graded by colour.
    Okr,
}

/// The lifecycle of a goal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GoalState {
    /// Being framed: everything may change and it may be deleted.
    Draft,
    /// Passed its checks and pursued; framework and start are fixed.
    Active,
    /// Over: neither it nor its key results change any more.
    Closed,
}

/// The kind of business outcome a goal serves (DESIGN §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GoalType {
    /// Make more people know the brand.
    BrandAwareness,
    /// Improve how people think and feel about the brand.
    BrandReputation,
    /// Grow and involve the audience.
    CommunityEngagement,
    /// Turn social traffic into sales or sign-ups.
    Conversions,
    /// Learn about customers and the market.
    MarketInsights,
    /// Collect prospects for the sales team.
    LeadGeneration,
    /// Help customers through social channels.
    CustomerService,
    /// Attract candidates for open positions.
    Recruitment,
    /// Be ready for and weather a crisis.
    CrisisManagement,
    /// Reach and involve the company's own staff.
    InternalCommunications,
}

/// How a metric key result's current value is judged against its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetMode {
    /// Move from the baseline to the target; score is the way covered.
    Reach,
    /// Stay at or above the target: score 1 or 0.
    AtLeast,
    /// Stay at or below the target: score 1 or 0.
    AtMost,
}

/// A goal with its key results in creation order.
#[derive(Debug, Clone, PartialEq)]
pub struct Goal {
    /// The id in `goals/{goal}`.
    pub id: Uuid,
    /// A short statement of the goal.
    pub title: String,
    /// A longer explanation, or empty.
    pub description: String,
    /// The business outcome served.
    pub goal_type: GoalType,
    /// How the goal is framed.
    pub framework: Framework,
    /// Where the goal is in its lifecycle.
    pub state: GoalState,
    /// The person accountable, or empty.
    pub owner: String,
    /// The team pursuing it, or empty.
    pub team: String,
    /// The goal this one is aligned to.
    pub parent: Option<Uuid>,
    /// The business objective served, or empty.
    pub business_objective: String,
    /// When the goal starts; always set once active.
    pub start_time: Option<DateTime<Utc>>,
    /// When the goal must be reached; always set once active.
    pub deadline: Option<DateTime<Utc>>,
    /// The score counting as success, in (0, 1]; `None`: the framework's default.
    pub success_threshold: Option<f64>,
    /// The key results, in creation order.
    pub key_results: Vec<KeyResult>,
    /// The progress frozen when the goal was closed; `None` before.
    pub closing: Option<Closing>,
    /// When the goal was created.
    pub create_time: DateTime<Utc>,
    /// When the goal's own fields or state last changed.
    pub update_time: DateTime<Utc>,
    /// Bumped on every change of the goal's row; the etag derives from it.
    pub revision: i64,
}

/// One key result of a goal.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyResult {
    /// The id in `goals/{goal}/keyResults/{key_result}`.
    pub id: Uuid,
    /// The goal it belongs to.
    pub goal_id: Uuid,
    /// A short statement of the result.
    pub title: String,
    /// The share in the goal's score, in (0, 1000]; 1 unless set.
    pub weight: f64,
    /// What is measured and against what.
    pub measure: Measure,
    /// When the key result was created.
    pub create_time: DateTime<Utc>,
    /// When it or one of its milestones last changed.
    pub update_time: DateTime<Utc>,
    /// Bumped on every change, milestones included; the etag derives from it.
    pub revision: i64,
}

/// What a key result measures.
#[derive(Debug, Clone, PartialEq)]
pub enum Measure {
    /// A metric moving from a baseline to a target.
    Metric(MetricMeasure),
    /// Steps to complete, in order; 1 to 50 of them.
    Milestones(Vec<Milestone>),
}

/// A metric key result's definition.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricMeasure {
    /// The catalog metric measured.
    pub metric_key: String,
    /// The series that count: empty means every account plus the
    /// organisation-wide series; `None` in the list is the organisation-wide
    /// series.
    pub accounts: Vec<Option<Uuid>>,
    /// The trailing window in UTC days, `(T − window_days, T]`; 0 means
    /// cumulative since the goal's start, `[start, T]`.
    pub window_days: i32,
    /// How the current value is judged against the target.
    pub target_mode: TargetMode,
    /// Where the baseline comes from.
    pub baseline: BaselineSpec,
    /// Where the target comes from.
    pub target: TargetSpec,
    /// Interim targets, sorted by time, with distinct times.
    pub checkpoints: Vec<Checkpoint>,
}

/// Where a metric key result's baseline comes from (DESIGN §2).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BaselineSpec {
    /// An explicit value.
    Value(f64),
    /// The metric's value over `[start, end]`, with `start < end`.
    Range {
        /// The inclusive start of the period.
        start: DateTime<Utc>,
        /// The inclusive end of the period.
        end: DateTime<Utc>,
    },
    /// 0 for a cumulative window, else the same window ending at the goal's start.
    Default,
}

/// Where a metric key result's target comes from. Defined here rather than
/// in the progress engine so that goals never depend on progress.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TargetSpec {
    /// An explicit value, different from an explicit baseline.
    Value(f64),
    /// `baseline × (1 + percent / 100)`; at least −100 and never 0.
    ChangePercent(f64),
}

/// An interim target of a metric key result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Checkpoint {
    /// When it should be reached.
    pub time: DateTime<Utc>,
    /// The metric value expected then.
    pub target_value: f64,
}

/// One step of a milestone key result.
#[derive(Debug, Clone, PartialEq)]
pub struct Milestone {
    /// The id, stable across updates of the list.
    pub id: Uuid,
    /// What has to be done.
    pub title: String,
    /// When it was done; `None` while it is not.
    pub done_time: Option<DateTime<Utc>>,
}

impl Goal {
    /// The success threshold in effect: the goal's own, else the framework's.
    pub fn effective_success_threshold(&self) -> f64 {
        self.success_threshold
            .unwrap_or_else(|| self.framework.default_success_threshold())
    }
}

impl Framework {
    /// The success threshold of goals that set none.
    pub fn default_success_threshold(self) -> f64 {
        match self {
            Framework::Smart => 1.0,
            Framework::Okr => 0.7,
        }
    }
}

impl KeyResult {
    /// The metric definition, for metric key results.
    pub fn metric(&self) -> Option<&MetricMeasure> {
        match &self.measure {
            Measure::Metric(metric) => Some(metric),
            Measure::Milestones(_) => None,
        }
    }

    /// The checkpoints; none for milestone key results.
    pub fn checkpoints(&self) -> &[Checkpoint] {
        self.metric()
            .map(|metric| metric.checkpoints.as_slice())
            .unwrap_or_default()
    }
}

/// Where a goal or key result stands against what is expected of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Nothing to judge: the key result has no current value, or no key result of the goal has.
    NoData,
    /// Before the deadline, with nothing required yet or at least 0.9 of the required score.
    OnTrack,
    /// Before the deadline, with 0.6 or more, but less than 0.9, of the required score.
    AtRisk,
    /// Before the deadline, with less than 0.6 of the required score.
    OffTrack,
    /// A full score before the deadline, or the success threshold met from the deadline on.
    Achieved,
    /// The success threshold not met at or after the deadline.
    Missed,
}

/// The OKR colour of a score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Grade {
    /// A score under 0.4.
    Red,
    /// A score of 0.4 or more but under 0.7.
    Yellow,
    /// A score of 0.7 or more.
    Green,
}

/// A closed goal's progress at the moment it was closed, kept as it was.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Closing {
    /// When the goal was closed.
    pub time: DateTime<Utc>,
    /// Its score then.
    pub score: f64,
    /// Its status then.
    pub status: Status,
    /// Its grade then.
    pub grade: Grade,
}

/// A stored enum text that is not one of the enum's values: a schema bug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored value {value:?} is not a {enumeration}")]
pub struct UnknownValue {
    /// The enum expected.
    pub enumeration: &'static str,
    /// The text found.
    pub value: String,
}

/// Stored names (the unprefixed proto names) of a domain enum, both ways.
macro_rules! stored_names {
    ($type:ident, $label:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $type {
            /// Every value, in proto number order.
            pub const ALL: &'static [$type] = &[$($type::$variant),+];

            /// The stored name, the proto name without its prefix.
            pub fn as_db(self) -> &'static str {
                match self {
                    $($type::$variant => $name),+
                }
            }
        }

        impl FromStr for $type {
            type Err = UnknownValue;

            fn from_str(text: &str) -> Result<Self, UnknownValue> {
                match text {
                    $($name => Ok($type::$variant),)+
                    _ => Err(UnknownValue { enumeration: $label, value: text.to_owned() }),
                }
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_db())
            }
        }
    };
}

stored_names!(Framework, "framework", { Smart => "SMART", Okr => "OKR" });
stored_names!(Status, "progress status", {
    NoData => "NO_DATA", OnTrack => "ON_TRACK", AtRisk => "AT_RISK",
    OffTrack => "OFF_TRACK", Achieved => "ACHIEVED", Missed => "MISSED",
});
stored_names!(Grade, "grade", { Red => "RED", Yellow => "YELLOW", Green => "GREEN" });
stored_names!(GoalState, "goal state", {
    Draft => "DRAFT", Active => "ACTIVE", Closed => "CLOSED",
});
stored_names!(TargetMode, "target mode", {
    Reach => "REACH", AtLeast => "AT_LEAST", AtMost => "AT_MOST",
});
stored_names!(GoalType, "goal type", {
    BrandAwareness => "BRAND_AWARENESS",
    BrandReputation => "BRAND_REPUTATION",
    CommunityEngagement => "COMMUNITY_ENGAGEMENT",
    Conversions => "CONVERSIONS",
    MarketInsights => "MARKET_INSIGHTS",
    LeadGeneration => "LEAD_GENERATION",
    CustomerService => "CUSTOMER_SERVICE",
    Recruitment => "RECRUITMENT",
    CrisisManagement => "CRISIS_MANAGEMENT",
    InternalCommunications => "INTERNAL_COMMUNICATIONS",
});

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A draft goal with no key results, for tests that only need one.
    pub(crate) fn sample_goal() -> Goal {
        let now = Utc::now();
        Goal {
            id: Uuid::now_v7(),
            title: "Be seen".into(),
            description: String::new(),
            goal_type: GoalType::BrandAwareness,
            framework: Framework::Okr,
            state: GoalState::Draft,
            owner: String::new(),
            team: String::new(),
            parent: None,
            business_objective: String::new(),
            start_time: None,
            deadline: None,
            success_threshold: None,
            key_results: Vec::new(),
            closing: None,
            create_time: now,
            update_time: now,
            revision: 1,
        }
    }

    #[test]
    fn stored_names_round_trip_for_every_value() {
        for value in GoalType::ALL {
            assert_eq!(value.as_db().parse::<GoalType>(), Ok(*value));
        }
        for value in Framework::ALL {
            assert_eq!(value.as_db().parse::<Framework>(), Ok(*value));
        }
        assert_eq!(GoalType::ALL.len(), 10);
        assert!("GOAL_TYPE_RECRUITMENT".parse::<GoalType>().is_err());
    }

    #[test]
    fn the_default_success_threshold_follows_the_framework() {
        assert_eq!(Framework::Smart.default_success_threshold(), 1.0);
        assert_eq!(Framework::Okr.default_success_threshold(), 0.7);
    }
}
