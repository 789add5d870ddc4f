//! Straight-line views of a key result's metric: the forecast to the deadline
//! and the historical trend against which achievability is judged.
//!
//! Slopes are in the metric's unit per day. Lines are fitted by least squares
//! with x in fractional days, so a slope reads the same whatever the origin.

use chrono::{DateTime, NaiveTime, TimeDelta, Utc};

use crate::catalog::Better;
use crate::goals::model::TargetMode;
use crate::progress::math::{Period, days_between};

/// How many days of daily values a forecast or a historical trend is fitted to.
pub const TREND_DAYS: usize = 28;

/// A straight line `value = intercept + slope × x`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Line {
    /// The change per unit of x (per day for the lines of this module).
    pub slope: f64,
    /// The value at x = 0.
    pub intercept: f64,
}

impl Line {
    /// The line's value at `x`.
    pub fn value_at(&self, x: f64) -> f64 {
        self.intercept + self.slope * x
    }
}

/// The value of a key result's window ending at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DailyValue {
    /// The moment the window ends: a UTC day boundary, or as_of for the day in progress.
    pub day_end: DateTime<Utc>,
    /// The key result's value then.
    pub value: f64,
}

/// The target a forecast looks for, with the direction that approaches it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForecastTarget {
    /// The target value.
    pub value: f64,
    /// Whether rising values move towards the target (see [`increase_moves_toward_target`]).
    pub toward_increase: bool,
}

/// A straight-line projection of a key result to its deadline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Forecast {
    /// The value the line reaches at the deadline.
    pub projected_value: f64,
    /// The score the projected value would earn, `None` when it cannot be scored.
    pub projected_score: Option<f64>,
    /// When the line reaches the target, possibly before as_of or after the
    /// deadline; `None` when the line is flat, heads away from the target,
    /// the target has no data, or the moment is beyond what a timestamp holds.
    pub completion_time: Option<DateTime<Utc>>,
}

/// How achievable a target looks from the metric's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Achievability {
    /// Too little data to judge.
    #[default]
    Unknown,
    /// The target is met already, or needs no steeper a slope than the best one seen.
    Likely,
    /// The target needs a steeper slope than the best one seen, by a factor of at most 3.
    Stretch,
    /// The target needs over 3 times the best slope seen, or history never moved its way.
    Unlikely,
}

/// The least-squares line through `points` (x, value); `None` for fewer than
/// two points or when every x is the same.
pub fn least_squares(points: &[(f64, f64)]) -> Option<Line> {
    let (first_x, _) = *points.first()?;
    if points.len() < 2 || points.iter().all(|(x, _)| *x == first_x) {
        return None;
    }
    let count = points.len() as f64;
    let mean_x = points.iter().map(|(x, _)| x).sum::<f64>() / count;
    let mean_y = points.iter().map(|(_, y)| y).sum::<f64>() / count;
    // Centred sums avoid the cancellation of Σx² − n·x̄² on large x or values.
    let (mut spread_x, mut covariance) = (0.0, 0.0);
    for (x, y) in points {
        spread_x += (x - mean_x) * (x - mean_x);
        covariance += (x - mean_x) * (y - mean_y);
    }
    let slope = covariance / spread_x;
    Some(Line {
        slope,
        intercept: mean_y - slope * mean_x,
    })
}

/// Whether rising values move a key result towards its target: AT_LEAST
/// aims up and AT_MOST down; REACH aims from the baseline to the target, or,
/// with no baseline or no distance, in the metric's better direction.
pub fn increase_moves_toward_target(
    mode: TargetMode,
    better: Better,
    baseline: Option<f64>,
    target: f64,
) -> bool {
    match (mode, baseline) {
        (TargetMode::AtLeast, _) => true,
        (TargetMode::AtMost, _) => false,
        (TargetMode::Reach, Some(base)) if target != base => target > base,
        (TargetMode::Reach, _) => better == Better::Higher,
    }
}

/// The start (exclusive) of the span a forecast at `as_of` samples: the last
/// [`TREND_DAYS`] days, or since the goal's start when that is later.
fn sample_span_start(as_of: DateTime<Utc>, start: DateTime<Utc>) -> DateTime<Utc> {
    let window = TimeDelta::days(TREND_DAYS as i64);
    as_of
        .checked_sub_signed(window)
        .map_or(start, |earliest| earliest.max(start))
}

/// The moments whose values a forecast at `as_of` is fitted to: every UTC day
/// boundary after `start` within the last 28 days up to `as_of` (at most 28),
/// then `as_of` itself when it is not a boundary, so the forecast also sees
/// the day in progress. Empty when `as_of` is not after `start`.
pub fn forecast_days(as_of: DateTime<Utc>, start: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let span_start = sample_span_start(as_of, start);
    let mut moments = Vec::with_capacity(TREND_DAYS + 1);
    let first_boundary = span_start
        .date_naive()
        .succ_opt()
        .map(|day| day.and_time(NaiveTime::MIN).and_utc());
    let mut boundary = first_boundary;
    while let Some(moment) = boundary.filter(|moment| *moment <= as_of) {
        moments.push(moment);
        boundary = moment.checked_add_signed(TimeDelta::days(1));
    }
    if span_start < as_of && moments.last() != Some(&as_of) {
        moments.push(as_of);
    }
    moments
}

/// Projects a key result to the deadline along the least-squares line through
/// the values of `daily` inside the span [`forecast_days`] samples (others are
/// ignored). `score_at` scores a value as the key result would. `None` at or
/// after the deadline and with fewer than two values; x is days from `as_of`.
pub fn forecast(
    daily: &[DailyValue],
    period: Period,
    as_of: DateTime<Utc>,
    target: Option<ForecastTarget>,
    score_at: impl Fn(f64) -> Option<f64>,
) -> Option<Forecast> {
    if as_of >= period.deadline {
        return None;
    }
    let span_start = sample_span_start(as_of, period.start);
    let points: Vec<(f64, f64)> = daily
        .iter()
        .filter(|daily_value| daily_value.day_end > span_start && daily_value.day_end <= as_of)
        .map(|daily_value| (days_between(as_of, daily_value.day_end), daily_value.value))
        .collect();
    let line = least_squares(&points)?;
    let projected_value = line.value_at(days_between(as_of, period.deadline));
    Some(Forecast {
        projected_value,
        projected_score: score_at(projected_value),
        completion_time: target.and_then(|target| crossing_time(line, target, as_of)),
    })
}

/// When `line` (x in days from `origin`) reaches the target while moving
/// towards it; a line already past the target crossed it before `origin`.
fn crossing_time(
    line: Line,
    target: ForecastTarget,
    origin: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let rising = line.slope > 0.0;
    if line.slope == 0.0 || rising != target.toward_increase {
        return None;
    }
    let days = (target.value - line.intercept) / line.slope;
    let micros = (days * 86_400e6).round();
    // Too far away for a DateTime (or not a number) is as good as never.
    if micros.is_nan() || micros.abs() >= i64::MAX as f64 {
        return None;
    }
    origin.checked_add_signed(TimeDelta::microseconds(micros as i64))
}

/// The slope per day needed to go from `from_value` at `from_time` to
/// `target` at `deadline`; `None` once the deadline has come.
pub fn required_slope(
    from_value: f64,
    from_time: DateTime<Utc>,
    target: f64,
    deadline: DateTime<Utc>,
) -> Option<f64> {
    if from_time >= deadline {
        return None;
    }
    Some((target - from_value) / days_between(from_time, deadline))
}

/// The steepest slope towards the target (the highest when `toward_increase`,
/// else the lowest, signed) of a least-squares line through any
/// [`TREND_DAYS`] calendar-consecutive daily values. `daily` is sorted by
/// time with one value per UTC day (the day of `day_end`); a missing day (no
/// data) or a repeated one breaks the run, so no window spans a gap, and the
/// values of a run are taken as one day apart. `None` without a full run.
pub fn best_trend(daily: &[DailyValue], toward_increase: bool) -> Option<f64> {
    let consecutive = |earlier: &DailyValue, later: &DailyValue| {
        earlier.day_end.date_naive().succ_opt() == Some(later.day_end.date_naive())
    };
    daily
        .chunk_by(consecutive)
        .flat_map(window_slopes)
        .reduce(|best, slope| {
            if toward_increase {
                best.max(slope)
            } else {
                best.min(slope)
            }
        })
}

/// The least-squares slopes of every [`TREND_DAYS`]-value window of a run of
/// consecutive days, by sliding sums in O(n). Values are taken relative to
/// the run's first so that the sums stay small (and exact for whole numbers
/// of moderate size); a slope does not change when every value shifts.
fn window_slopes(run: &[DailyValue]) -> Vec<f64> {
    if run.len() < TREND_DAYS {
        return Vec::new();
    }
    let reference = run[0].value;
    let days = TREND_DAYS as f64;
    let mean_x = (days - 1.0) / 2.0;
    let spread_x = days * (days * days - 1.0) / 12.0;
    // sum = Σ yᵢ and weighted = Σ i·yᵢ over the window, i counted from 0.
    let (mut sum, mut weighted) = (0.0, 0.0);
    for (index, daily_value) in run[..TREND_DAYS].iter().enumerate() {
        sum += daily_value.value - reference;
        weighted += index as f64 * (daily_value.value - reference);
    }
    let mut slopes = Vec::with_capacity(run.len() - TREND_DAYS + 1);
    slopes.push((weighted - mean_x * sum) / spread_x);
    for entering_index in TREND_DAYS..run.len() {
        let leaving = run[entering_index - TREND_DAYS].value - reference;
        let entering = run[entering_index].value - reference;
        // Dropping the first value shifts every other index down by one.
        sum += entering - leaving;
        weighted += days * entering - sum;
        slopes.push((weighted - mean_x * sum) / spread_x);
    }
    slopes
}

/// Judges a required slope against the best historical one, both signed and
/// read in the target's direction (`toward_increase`).
pub fn achievability(
    required_slope: Option<f64>,
    best_slope: Option<f64>,
    toward_increase: bool,
) -> Achievability {
    let (Some(required), Some(best)) = (required_slope, best_slope) else {
        return Achievability::Unknown;
    };
    let direction = if toward_increase { 1.0 } else { -1.0 };
    let (required, best) = (required * direction, best * direction);
    if required <= 0.0 {
        // Already at or past the target: standing still is enough.
        Achievability::Likely
    } else if best <= 0.0 {
        Achievability::Unlikely
    } else if required <= best {
        Achievability::Likely
    } else if required <= 3.0 * best {
        Achievability::Stretch
    } else {
        Achievability::Unlikely
    }
}

#[cfg(test)]
mod tests;
