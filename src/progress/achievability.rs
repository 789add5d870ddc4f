//! Achievability, the A of S.M.A.R.T. judged from data: the slope a metric
//! key result still needs from a moment to its target by the deadline,
//! against the best 28-day trend of the year before the goal's start.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgConnection;

use super::evaluate::{Evaluator, MetricReads, period_of};
use super::forecast::{self, DailyValue};
use super::math::{self, Period};
use crate::error::ApiError;
use crate::goals::model::{Goal, KeyResult, Measure};

/// The days before a goal's start whose trends judge achievability.
const HISTORY_DAYS: i64 = 365;

impl Evaluator {
    /// The achievability of a metric key result judged at `as_of`: the
    /// slope still needed against the best 28-day trend of the year before
    /// the goal's start. `None` for milestone key results.
    pub async fn achievability(
        &self,
        conn: &mut PgConnection,
        goal: &Goal,
        key_result: &KeyResult,
        as_of: DateTime<Utc>,
    ) -> Result<Option<Achievability>, ApiError> {
        let Measure::Metric(measure) = &key_result.measure else {
            return Ok(None);
        };
        // A draft without a time frame has no deadline to aim at.
        let (Some(period), Some(reads)) = (period_of(goal), MetricReads::of(measure, self)) else {
            return Ok(Some(Achievability::default()));
        };
        let history_end = goal.start_time.unwrap_or(as_of);
        let mut moments: Vec<DateTime<Utc>> = (1..=HISTORY_DAYS)
            .rev()
            .map(|days_before| history_end - TimeDelta::days(days_before))
            .collect();
        moments.push(as_of);
        // A cumulative window counts from the goal's start, which says
        // nothing of the year before it: there the running total since the
        // year's beginning stands in, whose slope is the same rate.
        let history_period = Period {
            start: history_end - TimeDelta::days(HISTORY_DAYS),
            deadline: history_end,
        };
        let (_, history) = reads
            .values(conn, history_period, &moments[..moments.len() - 1])
            .await?;
        let (baseline, now) = reads
            .values(conn, period, &moments[moments.len() - 1..])
            .await?;
        let target = math::target(measure.target, baseline);
        let Some(target_value) = target else {
            return Ok(Some(Achievability::default()));
        };
        let toward_increase = forecast::increase_moves_toward_target(
            measure.target_mode,
            reads.better,
            baseline,
            target_value,
        );
        let daily: Vec<DailyValue> = moments[..moments.len() - 1]
            .iter()
            .zip(history)
            .filter_map(|(day_end, value)| {
                Some(DailyValue {
                    day_end: *day_end,
                    value: value?,
                })
            })
            .collect();
        let best_slope = forecast::best_trend(&daily, toward_increase);
        let required_slope = now[0]
            .or(baseline)
            .and_then(|from| forecast::required_slope(from, as_of, target_value, period.deadline));
        Ok(Some(Achievability {
            required_slope,
            best_historical_slope: best_slope,
            verdict: forecast::achievability(required_slope, best_slope, toward_increase),
        }))
    }
}

/// A metric key result's achievability.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Achievability {
    /// The slope needed from as_of to the target by the deadline, per day.
    pub required_slope: Option<f64>,
    /// The steepest 28-day trend towards the target in the year examined.
    pub best_historical_slope: Option<f64>,
    /// The verdict.
    pub verdict: forecast::Achievability,
}
