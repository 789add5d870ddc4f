//! What a watched goal depends on: which announced changes can move its
//! progress, which moments change it without any write, and which parts of
//! an answer count as a change worth a message. Pure, so it is unit-tested.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::changes::Change;
use crate::goals::model::{Goal, Measure, MetricMeasure};
use crate::pb;

/// A goal's dependencies, as of its last evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Interest {
    goal_id: Uuid,
    /// Per metric key result: the base metrics it reads and its accounts
    /// (empty: every account and the organisation-wide series).
    reads: Vec<(Vec<String>, Vec<Option<Uuid>>)>,
    /// Moments at which the goal's standing changes by the clock alone:
    /// its start, its checkpoints and its deadline.
    moments: Vec<DateTime<Utc>>,
}

impl Interest {
    /// The interest of `goal`, with `base_metrics` naming what a metric key
    /// result reads (its metric, or a derived metric's terms).
    pub fn of(goal: &Goal, base_metrics: impl Fn(&MetricMeasure) -> Vec<String>) -> Interest {
        let mut reads = Vec::new();
        let mut moments: Vec<DateTime<Utc>> =
            goal.start_time.into_iter().chain(goal.deadline).collect();
        for key_result in &goal.key_results {
            if let Measure::Metric(measure) = &key_result.measure {
                reads.push((base_metrics(measure), measure.accounts.clone()));
                moments.extend(measure.checkpoints.iter().map(|checkpoint| checkpoint.time));
            }
        }
        moments.sort_unstable();
        moments.dedup();
        Interest {
            goal_id: goal.id,
            reads,
            moments,
        }
    }

    /// Whether `change` may move the goal's progress.
    pub fn moved_by(&self, change: &Change) -> bool {
        match change {
            Change::Goal(id) => *id == self.goal_id,
            // A formula may have changed under any key result.
            Change::Catalog => true,
            Change::Observations {
                metric_key,
                accounts,
            } => self.reads.iter().any(|(metrics, selected)| {
                metrics.contains(metric_key) && accounts.touch(selected)
            }),
        }
    }

    /// Whether one of the goal's moments falls in `(after, upto]`.
    pub fn passed_between(&self, after: DateTime<Utc>, upto: DateTime<Utc>) -> bool {
        self.moments
            .iter()
            .any(|moment| after < *moment && *moment <= upto)
    }

    /// The goal's first moment after `now`.
    pub fn next_moment(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.moments.iter().copied().find(|moment| *moment > now)
    }
}

/// The parts of an answer a write can change. The moment evaluated, the
/// expected scores, the statuses that follow from them and the forecasts
/// move with the clock alone, so two answers that differ only there are
/// the same news.
pub fn news(progress: &pb::GoalProgress) -> pb::GoalProgress {
    let mut news = progress.clone();
    news.as_of = None;
    news.expected = 0.0;
    news.status = 0;
    for key_result in &mut news.key_results {
        key_result.expected = 0.0;
        key_result.status = 0;
        key_result.forecast = None;
    }
    news
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::changes::Accounts;
    use crate::goals::model::{
        BaselineSpec, Checkpoint, Framework, GoalState, GoalType, KeyResult, TargetMode, TargetSpec,
    };

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, 0, 0, 0).unwrap()
    }

    fn metric_key_result(
        goal_id: Uuid,
        metric_key: &str,
        accounts: Vec<Option<Uuid>>,
        checkpoint: DateTime<Utc>,
    ) -> KeyResult {
        KeyResult {
            id: Uuid::now_v7(),
            goal_id,
            title: "Grow".into(),
            weight: 1.0,
            measure: Measure::Metric(MetricMeasure {
                metric_key: metric_key.into(),
                accounts,
                window_days: 7,
                target_mode: TargetMode::Reach,
                baseline: BaselineSpec::Value(1.0),
                target: TargetSpec::Value(2.0),
                checkpoints: vec![Checkpoint {
                    time: checkpoint,
                    target_value: 1.5,
                }],
            }),
            create_time: at(1),
            update_time: at(1),
            revision: 1,
        }
    }

    fn goal(key_results: impl FnOnce(Uuid) -> Vec<KeyResult>) -> Goal {
        let id = Uuid::now_v7();
        Goal {
            id,
            title: "Be seen".into(),
            description: String::new(),
            goal_type: GoalType::BrandAwareness,
            framework: Framework::Okr,
            state: GoalState::Active,
            owner: String::new(),
            team: String::new(),
            parent: None,
            business_objective: String::new(),
            start_time: Some(at(1)),
            deadline: Some(at(31)),
            success_threshold: None,
            key_results: key_results(id),
            closing: None,
            create_time: at(1),
            update_time: at(1),
            revision: 1,
        }
    }

    fn observations(metric_key: &str, accounts: Accounts) -> Change {
        Change::Observations {
            metric_key: metric_key.into(),
            accounts,
        }
    }

    #[test]
    fn a_goal_is_moved_by_its_own_edits_and_the_series_it_reads() {
        let account = Some(Uuid::now_v7());
        let elsewhere = Some(Uuid::now_v7());
        let goal = goal(|id| {
            vec![metric_key_result(
                id,
                "engagement_rate",
                vec![account],
                at(10),
            )]
        });
        let interest = Interest::of(&goal, |_| vec!["likes".into(), "impressions".into()]);
        assert!(interest.moved_by(&Change::Goal(goal.id)));
        assert!(!interest.moved_by(&Change::Goal(Uuid::now_v7())));
        assert!(interest.moved_by(&observations("likes", Accounts::Listed(vec![account]))));
        assert!(interest.moved_by(&observations("impressions", Accounts::Every)));
        assert!(!interest.moved_by(&observations("likes", Accounts::Listed(vec![elsewhere]))));
        assert!(!interest.moved_by(&observations("shares", Accounts::Every)));
    }

    #[test]
    fn a_key_result_over_every_account_is_moved_by_any_series_of_its_metrics() {
        let goal = goal(|id| vec![metric_key_result(id, "likes", vec![], at(10))]);
        let interest = Interest::of(&goal, |measure| vec![measure.metric_key.clone()]);
        assert!(interest.moved_by(&observations("likes", Accounts::Listed(vec![None]))));
        assert!(interest.moved_by(&observations(
            "likes",
            Accounts::Listed(vec![Some(Uuid::now_v7())])
        )));
    }

    #[test]
    fn the_start_checkpoints_and_deadline_are_the_moments_that_move_a_goal() {
        let goal = goal(|id| vec![metric_key_result(id, "likes", vec![], at(10))]);
        let interest = Interest::of(&goal, |_| vec![]);
        assert_eq!(
            interest.next_moment(at(1) - chrono::TimeDelta::seconds(1)),
            Some(at(1))
        );
        assert_eq!(interest.next_moment(at(1)), Some(at(10)));
        assert_eq!(interest.next_moment(at(10)), Some(at(31)));
        assert_eq!(interest.next_moment(at(31)), None);
        assert!(interest.passed_between(at(9), at(10)));
        assert!(!interest.passed_between(at(10), at(11)), "(after, upto]");
        assert!(interest.passed_between(at(30), at(31)));
    }

    #[test]
    fn news_ignores_what_moves_with_the_clock_alone() {
        let progress = pb::GoalProgress {
            goal: "goals/x".into(),
            as_of: Some(prost_types::Timestamp::default()),
            score: 0.5,
            expected: 0.4,
            status: pb::ProgressStatus::OnTrack as i32,
            key_results: vec![pb::KeyResultProgress {
                current: Some(3.0),
                expected: 0.4,
                status: pb::ProgressStatus::OnTrack as i32,
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut later = progress.clone();
        later.as_of = Some(prost_types::Timestamp {
            seconds: 60,
            nanos: 0,
        });
        later.expected = 0.9;
        later.status = pb::ProgressStatus::AtRisk as i32;
        later.key_results[0].expected = 0.9;
        assert_eq!(news(&progress), news(&later));
        later.key_results[0].current = Some(4.0);
        assert_ne!(news(&progress), news(&later));
    }
}
