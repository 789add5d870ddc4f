//! Histories: a goal's and its key results' standing at many moments, one
//! read per key result. GetProgressHistory and the snapshot recorder use it.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::{Evaluator, MetricReads, goal_standing, not_time_bound, period_of};
use crate::error::ApiError;
use crate::goals::model::{Goal, Measure};
use crate::progress::math::{self, Grade, Status};

/// A goal's and its key results' scores at one moment, for histories.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreStep {
    /// The moment.
    pub time: DateTime<Utc>,
    /// The goal's score.
    pub score: f64,
    /// The goal's expected score.
    pub expected: f64,
    /// The goal's status.
    pub status: Status,
    /// The goal's grade.
    pub grade: Grade,
    /// Whether every key result had a value.
    pub complete: bool,
    /// Each key result's numbers, in the goal's order.
    pub key_results: Vec<KeyResultStanding>,
}

/// A key result's numbers at one moment and where they stand, as progress
/// and histories report them; `None` is no data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyResultStanding {
    /// The baseline; for milestones 0.
    pub baseline: Option<f64>,
    /// The value of the window ending at the step; for milestones the
    /// number done.
    pub current: Option<f64>,
    /// The target; for milestones how many there are.
    pub target: Option<f64>,
    /// The score, absent with no data.
    pub score: Option<f64>,
    /// The expected score.
    pub expected: f64,
    /// Where the score stands against the expected one.
    pub status: Status,
}

impl KeyResultStanding {
    /// The numbers with their status, judged against the goal's
    /// `(threshold, moment, deadline)`.
    pub(super) fn judged(
        (baseline, current, target): (Option<f64>, Option<f64>, Option<f64>),
        score: Option<f64>,
        expected: f64,
        (threshold, at, deadline): (f64, DateTime<Utc>, DateTime<Utc>),
    ) -> Self {
        KeyResultStanding {
            baseline,
            current,
            target,
            score,
            expected,
            status: math::status(score, expected, threshold, at, deadline),
        }
    }

    /// The way covered from baseline to target, unclamped.
    pub fn progress(&self) -> Option<f64> {
        math::progress(self.baseline, self.current, self.target)
    }
}

impl Evaluator {
    /// The goal's and key results' scores at each of `moments` (sorted),
    /// every key result's windows read together.
    pub async fn score_history(
        &self,
        conn: &mut PgConnection,
        goal: &Goal,
        moments: &[DateTime<Utc>],
    ) -> Result<Vec<ScoreStep>, ApiError> {
        let period = period_of(goal).ok_or_else(|| not_time_bound(goal))?;
        self.prefetch_at(conn, &[goal], |_| moments.to_vec())
            .await?;
        let threshold = goal.effective_success_threshold();
        // Per key result, its numbers at each moment.
        let mut columns: Vec<Vec<KeyResultStanding>> = Vec::new();
        for key_result in &goal.key_results {
            let column = match &key_result.measure {
                Measure::Milestones(milestones) => {
                    let done: Vec<Option<DateTime<Utc>>> = milestones
                        .iter()
                        .map(|milestone| milestone.done_time)
                        .collect();
                    moments
                        .iter()
                        .map(|at| {
                            let count = math::milestones_done(&done, *at);
                            KeyResultStanding::judged(
                                (Some(0.0), Some(count.done as f64), Some(count.total as f64)),
                                Some(math::milestone_score(&done, *at)),
                                math::time_fraction(period, *at),
                                (threshold, *at, period.deadline),
                            )
                        })
                        .collect()
                }
                Measure::Metric(measure) => match MetricReads::of(measure, self) {
                    None => moments
                        .iter()
                        .map(|at| {
                            KeyResultStanding::judged(
                                (None, None, None),
                                None,
                                math::time_fraction(period, *at),
                                (threshold, *at, period.deadline),
                            )
                        })
                        .collect(),
                    Some(reads) => {
                        let (baseline, values) = reads.values(conn, period, moments).await?;
                        let target = math::target(measure.target, baseline);
                        moments
                            .iter()
                            .zip(values)
                            .map(|(at, current)| {
                                KeyResultStanding::judged(
                                    (baseline, current, target),
                                    math::score(
                                        measure.target_mode,
                                        reads.better,
                                        baseline,
                                        current,
                                        target,
                                    ),
                                    math::key_result_expected(
                                        period,
                                        *at,
                                        baseline,
                                        target,
                                        &measure.checkpoints,
                                    ),
                                    (threshold, *at, period.deadline),
                                )
                            })
                            .collect()
                    }
                },
            };
            columns.push(column);
        }
        Ok(moments
            .iter()
            .enumerate()
            .map(|(step, at)| {
                let key_results: Vec<KeyResultStanding> =
                    columns.iter().map(|column| column[step]).collect();
                let goal = goal_standing(
                    period,
                    threshold,
                    *at,
                    &goal.key_results,
                    key_results.iter().map(|standing| standing.score),
                );
                ScoreStep {
                    time: *at,
                    score: goal.score,
                    expected: goal.expected,
                    status: goal.status,
                    grade: goal.grade,
                    complete: goal.complete,
                    key_results,
                }
            })
            .collect())
    }
}
