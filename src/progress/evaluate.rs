//! A goal and a moment in, its progress out: reads the window values the
//! math needs through the [window evaluator](crate::observations::read::evaluate)
//! and applies [`super::math`] and [`super::forecast`]. No protobuf.
//!
//! Every read of one answer runs in the caller's transaction, one snapshot,
//! and only observations stamped at or before the moment count, so any
//! past moment can be evaluated.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::forecast::{self, DailyValue, Forecast, ForecastTarget};
use super::math::{self, Grade, Period, Status, WeightedScore};
use crate::api::names::GOALS;
use crate::catalog::cache::Catalog;
use crate::error::{ApiError, PreconditionViolation};
use crate::goals::model::{Goal, KeyResult, Measure, MetricMeasure};
use crate::observations::read::ReadCaches;
use crate::observations::read::day_grid::EdgeMemo;
use crate::observations::read::evaluate::MetricPlan;

mod history;
mod reads;

pub use history::{KeyResultStanding, ScoreStep};
pub(super) use reads::MetricReads;
use reads::{ReadMemo, progress_moments};

/// A goal's progress at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct GoalProgress {
    /// The moment evaluated.
    pub as_of: DateTime<Utc>,
    /// The weighted mean of the key results' scores, no data counting 0.
    pub score: f64,
    /// The elapsed fraction of the goal's time frame.
    pub expected: f64,
    /// Where the goal stands.
    pub status: Status,
    /// The OKR colour of the score.
    pub grade: Grade,
    /// Whether every key result has data.
    pub complete: bool,
    /// Each key result's progress, in the goal's order.
    pub key_results: Vec<KeyResultProgress>,
}

/// A key result's progress at one moment; `None` is no data.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyResultProgress {
    /// Its numbers and where they stand.
    pub standing: KeyResultStanding,
    /// The projection to the deadline.
    pub forecast: Option<Forecast>,
    /// The newest observation (or done milestone) at or before the moment.
    pub last_observation_time: Option<DateTime<Utc>>,
}

/// The goal's time frame, which progress needs; a draft may not have one
/// yet (activation requires it).
pub fn period_of(goal: &Goal) -> Option<Period> {
    Some(Period {
        start: goal.start_time?,
        deadline: goal.deadline?,
    })
}

/// FAILED_PRECONDITION for progress asked of a goal without a time frame.
pub fn not_time_bound(goal: &Goal) -> ApiError {
    ApiError::FailedPrecondition {
        reason: "GOAL_NOT_TIME_BOUND",
        message:
            "the goal has no time frame yet, so it has no progress: set its start_time and deadline"
                .into(),
        violations: vec![PreconditionViolation {
            kind: "TIME_BOUND".into(),
            subject: GOALS.name(goal.id),
            description: "progress needs both start_time and deadline".into(),
        }],
    }
}

/// Evaluates goals against one catalog snapshot, in one database snapshot.
pub struct Evaluator {
    pub(super) catalog: Arc<Catalog>,
    caches: ReadCaches,
    memo: ReadMemo,
    /// Raw ranges over every series read in the snapshot; siblings (a
    /// report's readers, in the same snapshot) share them.
    edges: Arc<EdgeMemo>,
}

/// The metrics the key results of `goals` name.
fn metric_keys<'g>(goals: impl IntoIterator<Item = &'g Goal>) -> impl Iterator<Item = &'g str> {
    goals
        .into_iter()
        .flat_map(|goal| &goal.key_results)
        .filter_map(|key_result| match &key_result.measure {
            Measure::Metric(measure) => Some(measure.metric_key.as_str()),
            Measure::Milestones(_) => None,
        })
}

impl Evaluator {
    /// An evaluator of `goals` whose catalog holds every metric they name
    /// that exists in the caller's snapshot (the cached catalog when it
    /// does).
    pub async fn new<'g>(
        conn: &mut PgConnection,
        caches: &ReadCaches,
        goals: impl IntoIterator<Item = &'g Goal>,
    ) -> Result<Self, ApiError> {
        Ok(Evaluator {
            catalog: caches.catalog.covering(conn, metric_keys(goals)).await?,
            caches: caches.clone(),
            memo: ReadMemo::default(),
            edges: Arc::default(),
        })
    }

    /// An evaluator sharing this one's catalog, with a memo of its own: for
    /// a report's extra readers, each forgetting its reads batch by batch.
    pub fn sibling(&self) -> Evaluator {
        Evaluator {
            catalog: self.catalog.clone(),
            caches: self.caches.clone(),
            memo: ReadMemo::default(),
            edges: self.edges.clone(),
        }
    }

    /// Forgets the reads made so far: between a report's batches, whose
    /// reads rarely repeat, so that a report's memory stays bounded.
    pub fn forget_reads(&self) {
        self.memo.clear();
    }

    /// Whether the catalog holds every metric `goal` names: an evaluator
    /// made for other goals may lack one created since.
    pub fn covers(&self, goal: &Goal) -> bool {
        metric_keys([goal]).all(|key| self.catalog.contains_key(key))
    }

    /// The base metrics a metric key result reads: its own metric, or the
    /// terms of its formula. Empty when the metric is not in the catalog.
    pub fn base_metrics(&self, measure: &MetricMeasure) -> Vec<String> {
        MetricPlan::resolve(&self.catalog, &measure.metric_key)
            .map(|plan| plan.base_keys().into_iter().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// The goal's progress at `as_of`, with forecasts.
    pub async fn goal_progress(
        &self,
        conn: &mut PgConnection,
        goal: &Goal,
        as_of: DateTime<Utc>,
    ) -> Result<GoalProgress, ApiError> {
        let period = period_of(goal).ok_or_else(|| not_time_bound(goal))?;
        self.prefetch(conn, &[goal], as_of).await?;
        let threshold = goal.effective_success_threshold();
        let mut key_results = Vec::with_capacity(goal.key_results.len());
        for key_result in &goal.key_results {
            key_results.push(
                self.key_result_progress(conn, key_result, period, threshold, as_of)
                    .await?,
            );
        }
        Ok(combine_goal(
            period,
            threshold,
            as_of,
            &goal.key_results,
            key_results,
        ))
    }

    async fn key_result_progress(
        &self,
        conn: &mut PgConnection,
        key_result: &KeyResult,
        period: Period,
        threshold: f64,
        as_of: DateTime<Utc>,
    ) -> Result<KeyResultProgress, ApiError> {
        let measure = match &key_result.measure {
            Measure::Milestones(milestones) => {
                let done: Vec<Option<DateTime<Utc>>> = milestones
                    .iter()
                    .map(|milestone| milestone.done_time)
                    .collect();
                return Ok(milestone_progress(&done, period, threshold, as_of));
            }
            Measure::Metric(measure) => measure,
        };
        let Some(reads) = MetricReads::of(measure, self) else {
            return Ok(no_data(period, as_of, threshold));
        };
        let forecasting = as_of < period.deadline;
        let (samples, moments) = progress_moments(period, as_of);
        let (baseline, readings) = reads.readings(conn, period, &moments).await?;
        let current = readings[0].value;
        let mut day_values = readings[1..].iter().map(|window| window.value);
        let target = math::target(measure.target, baseline);
        let score_of = |value: Option<f64>| {
            math::score(measure.target_mode, reads.better, baseline, value, target)
        };
        let score = score_of(current);
        let expected =
            math::key_result_expected(period, as_of, baseline, target, &measure.checkpoints);
        let forecast = if forecasting {
            let daily: Vec<DailyValue> = samples
                .iter()
                .filter_map(|sample| {
                    let value = if *sample == as_of {
                        current
                    } else {
                        day_values.next()?
                    };
                    Some(DailyValue {
                        day_end: *sample,
                        value: value?,
                    })
                })
                .collect();
            let aim = target.map(|value| ForecastTarget {
                value,
                toward_increase: forecast::increase_moves_toward_target(
                    measure.target_mode,
                    reads.better,
                    baseline,
                    value,
                ),
            });
            forecast::forecast(&daily, period, as_of, aim, |value| score_of(Some(value)))
        } else {
            None
        };
        // The newest observation at or before as_of is the current window's
        // newest, unless that window holds none.
        let last_observation_time = match readings[0].newest {
            Some(newest) => Some(newest),
            None => last_observation_time(conn, &reads, as_of).await?,
        };
        Ok(KeyResultProgress {
            standing: KeyResultStanding::judged(
                (baseline, current, target),
                score,
                expected,
                (threshold, as_of, period.deadline),
            ),
            forecast,
            last_observation_time,
        })
    }
}

/// A key result whose metric is missing from the catalog: no data.
fn no_data(period: Period, as_of: DateTime<Utc>, threshold: f64) -> KeyResultProgress {
    KeyResultProgress {
        standing: KeyResultStanding::judged(
            (None, None, None),
            None,
            math::time_fraction(period, as_of),
            (threshold, as_of, period.deadline),
        ),
        forecast: None,
        last_observation_time: None,
    }
}

/// A milestone key result: baseline 0, current the milestones done by
/// `as_of`, target all of them.
fn milestone_progress(
    done: &[Option<DateTime<Utc>>],
    period: Period,
    threshold: f64,
    as_of: DateTime<Utc>,
) -> KeyResultProgress {
    let count = math::milestones_done(done, as_of);
    let score = math::milestone_score(done, as_of);
    let expected = math::time_fraction(period, as_of);
    KeyResultProgress {
        standing: KeyResultStanding::judged(
            (Some(0.0), Some(count.done as f64), Some(count.total as f64)),
            Some(score),
            expected,
            (threshold, as_of, period.deadline),
        ),
        forecast: None,
        last_observation_time: done
            .iter()
            .flatten()
            .filter(|at| **at <= as_of)
            .max()
            .copied(),
    }
}

/// The goal's numbers from its key results'.
fn combine_goal(
    period: Period,
    threshold: f64,
    as_of: DateTime<Utc>,
    key_results: &[KeyResult],
    progress: Vec<KeyResultProgress>,
) -> GoalProgress {
    let goal = goal_standing(
        period,
        threshold,
        as_of,
        key_results,
        progress.iter().map(|progress| progress.standing.score),
    );
    GoalProgress {
        as_of,
        score: goal.score,
        expected: goal.expected,
        status: goal.status,
        grade: goal.grade,
        complete: goal.complete,
        key_results: progress,
    }
}

/// A goal's own numbers at one moment.
struct GoalStanding {
    score: f64,
    expected: f64,
    status: Status,
    grade: Grade,
    complete: bool,
}

/// The goal's numbers at `at` from its key results' scores, in order.
fn goal_standing(
    period: Period,
    threshold: f64,
    at: DateTime<Utc>,
    key_results: &[KeyResult],
    scores: impl Iterator<Item = Option<f64>>,
) -> GoalStanding {
    let parts: Vec<WeightedScore> = key_results
        .iter()
        .zip(scores)
        .map(|(key_result, score)| WeightedScore {
            weight: key_result.weight,
            score,
        })
        .collect();
    let combined = math::goal_score(&parts);
    let expected = math::time_fraction(period, at);
    GoalStanding {
        score: combined.score,
        expected,
        status: math::status(
            combined.any_data.then_some(combined.score),
            expected,
            threshold,
            at,
            period.deadline,
        ),
        grade: math::grade(combined.score),
        complete: combined.complete,
    }
}

/// The newest observation at or before `at` of any base metric the key
/// result reads on its accounts: whole days before `at`'s from the rollups'
/// last times, `at`'s own day from raw rows.
async fn last_observation_time(
    conn: &mut PgConnection,
    reads: &MetricReads<'_>,
    at: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    let (all, accounts, organisation) = reads.selection.as_parameters();
    let day_start = at.date_naive().and_time(chrono::NaiveTime::MIN).and_utc();
    Ok(sqlx::query_scalar(
        "with selected as (
             select series_id from series
             where metric_key = any($1)
               and ($2 or account_id = any($3) or ($4 and account_id is null))
         )
         select greatest(
             (select max(o.observed_at) from observation o
              where o.series_id = any((select array_agg(series_id) from selected)::int8[])
                and o.observed_at >= $5 and o.observed_at <= $6),
             (select max(last.last_observed_at) from selected s
              cross join lateral (
                  select d.last_observed_at from observation_daily d
                  where d.series_id = s.series_id and d.day < $7
                  order by d.day desc limit 1
              ) last)
         )",
    )
    .bind(reads.plan.base_keys())
    .bind(all)
    .bind(accounts)
    .bind(organisation)
    .bind(day_start)
    .bind(at)
    .bind(at.date_naive())
    .fetch_one(&mut *conn)
    .await?)
}
