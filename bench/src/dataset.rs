//! The generated data set: which series the benchmark observes and the
//! values of their points.
//!
//! The data is realistic and repeatable: each series (metric, account) has
//! one observation every 6 hours, ending about an hour before the run, at its
//! own minute offset; counts vary with the hour of day and the weekday, levels
//! such as `followers` grow slowly; everything comes from a fixed seed. Rows
//! come series by series (the order of a backfill exported per account and
//! metric).

use std::sync::Arc;

use fastrand::Rng;
use goalpost::pb;
use goalpost::pb::metric_definition::Aggregation;

use crate::error::{Context, Result};

/// Seed of every random draw, so two runs (and the two loads of one run)
/// see exactly the same rows.
const SEED: u64 = 0x676f_616c_706f_7374;
/// Time between two observations of one series: four a day, like an export
/// that samples insights every 6 hours.
pub const STEP_MICROS: i64 = 6 * 3_600 * 1_000_000;
/// One minute, the unit of each series' offset within the 6-hour step.
const MINUTE_MICROS: i64 = 60 * 1_000_000;
/// One UTC day.
pub const DAY_MICROS: i64 = 86_400 * 1_000_000;
/// The newest observation of a series is stamped about this long before the
/// start of the run (plus the series' offset): recent, never in the future.
const NEWEST_AGE_MICROS: i64 = 3_600 * 1_000_000;

/// A protobuf timestamp for Unix microseconds.
pub fn timestamp(unix_micros: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: unix_micros.div_euclid(1_000_000),
        // Below 1e9 by construction, so the cast cannot truncate.
        nanos: (unix_micros.rem_euclid(1_000_000) * 1_000) as i32,
    }
}

/// How the values of one metric behave over time, so the data looks like a
/// real insights export rather than noise.
#[derive(Debug, Clone, Copy)]
pub enum Profile {
    /// A count per 6-hour period (impressions, likes…): each series has its
    /// own typical level between `low` and `high`, busier in the afternoon
    /// (UTC) than at night and on weekdays than at weekends.
    Count {
        /// The smallest typical level of a series.
        low: f64,
        /// The largest typical level of a series.
        high: f64,
    },
    /// Money per period, like [`Profile::Count`] but in cents.
    Money {
        /// The smallest typical level of a series.
        low: f64,
        /// The largest typical level of a series.
        high: f64,
    },
    /// A level that grows slowly with small setbacks (followers), rounded
    /// to whole units.
    Level {
        /// The smallest starting level of a series.
        low: f64,
        /// The largest starting level of a series.
        high: f64,
        /// The largest mean relative growth per step of a series.
        growth: f64,
    },
    /// A reading around a steady level (custom AVG, MIN or MAX metrics).
    Gauge {
        /// The smallest level of a series.
        low: f64,
        /// The largest level of a series.
        high: f64,
    },
}

impl Profile {
    /// The profile of a catalog metric: by key for the built-in ones, by
    /// aggregation for custom ones.
    pub fn of(definition: &pb::MetricDefinition) -> Profile {
        let count = |low, high| Profile::Count { low, high };
        match definition.key.as_str() {
            "impressions" => count(2_000.0, 200_000.0),
            "reach" => count(1_000.0, 80_000.0),
            "mentions" => count(5.0, 300.0),
            "competitor_mentions" => count(5.0, 400.0),
            "positive_mentions" => count(2.0, 150.0),
            "negative_mentions" => count(0.5, 40.0),
            "shares" => count(5.0, 800.0),
            "likes" => count(50.0, 8_000.0),
            "comments" => count(5.0, 600.0),
            "clicks" => count(20.0, 3_000.0),
            "sessions" => count(15.0, 2_500.0),
            "bounces" => count(5.0, 1_200.0),
            "conversions" => count(0.5, 60.0),
            "leads" => count(0.2, 30.0),
            "applications" => count(0.1, 10.0),
            "new_followers" => count(2.0, 400.0),
            "promoters" => count(0.5, 20.0),
            "detractors" => count(0.2, 8.0),
            "nps_responses" => count(2.0, 40.0),
            "csat_satisfied" => count(1.0, 30.0),
            "csat_responses" => count(2.0, 40.0),
            "service_requests_resolved" => count(0.5, 60.0),
            "ad_spend" => Profile::Money {
                low: 5.0,
                high: 2_000.0,
            },
            "followers" => Profile::Level {
                low: 500.0,
                high: 500_000.0,
                growth: 0.003,
            },
            "service_reps" => Profile::Level {
                low: 1.0,
                high: 25.0,
                growth: 0.000_5,
            },
            _ => match definition.aggregation() {
                Aggregation::Last => Profile::Level {
                    low: 10.0,
                    high: 10_000.0,
                    growth: 0.002,
                },
                Aggregation::Avg | Aggregation::Min | Aggregation::Max => Profile::Gauge {
                    low: 1.0,
                    high: 100.0,
                },
                Aggregation::Sum | Aggregation::Unspecified => count(1.0, 1_000.0),
            },
        }
    }
}

/// What to load: the series and their points.
pub struct Plan {
    /// How many accounts each metric is observed on.
    pub accounts: usize,
    /// The metrics observed, in catalog order.
    pub metrics: Vec<MetricPlan>,
    /// Observations per series.
    pub points: usize,
    /// The newest point of every series before its own offset, in Unix
    /// microseconds, on a whole minute.
    pub newest_micros: i64,
}

/// One metric of the plan.
pub struct MetricPlan {
    /// The metric's key.
    pub key: String,
    /// How its values behave.
    pub profile: Profile,
}

impl Plan {
    /// A plan of about `rows` rows over `accounts` × the `metrics`, ending
    /// about an hour before `now_micros`.
    pub fn new(
        accounts: usize,
        metrics: &[pb::MetricDefinition],
        rows: u64,
        now_micros: i64,
    ) -> Result<Plan> {
        let series = u64::try_from(accounts * metrics.len()).context("too many series")?;
        // Every series gets the same number of points, so N is rounded to
        // the nearest multiple of the series count (at least one point).
        let points = ((rows + series / 2) / series).max(1);
        let newest = now_micros - NEWEST_AGE_MICROS;
        Ok(Plan {
            accounts,
            metrics: metrics
                .iter()
                .map(|definition| MetricPlan {
                    key: definition.key.clone(),
                    profile: Profile::of(definition),
                })
                .collect(),
            points: usize::try_from(points).context("too many points per series")?,
            newest_micros: newest - newest.rem_euclid(MINUTE_MICROS),
        })
    }

    /// How many series the plan has.
    pub fn series_count(&self) -> usize {
        self.accounts * self.metrics.len()
    }

    /// How many rows the plan loads.
    pub fn row_count(&self) -> u64 {
        (self.series_count() * self.points) as u64
    }
}

/// One generated observation.
pub struct Row {
    /// The series' index: `metric * accounts + account` (so the bare table's
    /// series_id is this plus one).
    pub series: usize,
    /// The index of the metric in the plan.
    pub metric: usize,
    /// The index of the account.
    pub account: usize,
    /// When, in Unix microseconds.
    pub observed_at: i64,
    /// The value.
    pub value: f64,
}

/// The rows of a plan, generated lazily: series after series (metric, then
/// account), each in time order. Two iterations of one plan yield exactly
/// the same rows.
pub struct Rows {
    /// The plan being generated.
    plan: Arc<Plan>,
    /// The current series.
    series: usize,
    /// The next point of the current series.
    point: usize,
    /// The current series' random state; built on its first point.
    state: Option<SeriesState>,
}

impl Rows {
    /// The rows of `plan` from the start.
    pub fn new(plan: Arc<Plan>) -> Rows {
        Rows {
            plan,
            series: 0,
            point: 0,
            state: None,
        }
    }
}

impl Iterator for Rows {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        loop {
            if self.series >= self.plan.series_count() {
                return None;
            }
            if self.point < self.plan.points {
                let metric = self.series / self.plan.accounts;
                let profile = self.plan.metrics[metric].profile;
                let state = self
                    .state
                    .get_or_insert_with(|| SeriesState::new(&self.plan, self.series, profile));
                let observed_at = state.first_micros + self.point as i64 * STEP_MICROS;
                let value = state.next_value(profile, observed_at);
                self.point += 1;
                return Some(Row {
                    series: self.series,
                    metric,
                    account: self.series % self.plan.accounts,
                    observed_at,
                    value,
                });
            }
            self.series += 1;
            self.point = 0;
            self.state = None;
        }
    }
}

/// The state of one series while its points are generated.
struct SeriesState {
    /// Seeded from the series index alone, so a series' values do not
    /// depend on how many series come before it.
    rng: Rng,
    /// The time of its first point, in Unix microseconds.
    first_micros: i64,
    /// Its typical level (counts, money, gauges) or current level (levels).
    level: f64,
    /// Its mean relative growth per step (levels only).
    growth: f64,
}

impl SeriesState {
    /// The state of series `series` of `plan`, before its first point.
    fn new(plan: &Plan, series: usize, profile: Profile) -> SeriesState {
        let mut rng =
            Rng::with_seed(SEED ^ (series as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        // Its own minute within the 6-hour step, as collectors do not all
        // run at the same instant.
        let offset = rng.i64(0..6 * 60) * MINUTE_MICROS;
        let first_micros = plan.newest_micros - offset - (plan.points as i64 - 1) * STEP_MICROS;
        let (level, growth) = match profile {
            Profile::Count { low, high }
            | Profile::Money { low, high }
            | Profile::Gauge { low, high } => (log_uniform(&mut rng, low, high), 0.0),
            Profile::Level { low, high, growth } => {
                (log_uniform(&mut rng, low, high), growth * rng.f64())
            }
        };
        SeriesState {
            rng,
            first_micros,
            level,
            growth,
        }
    }

    /// The value of the next point, observed at `at` (Unix microseconds).
    fn next_value(&mut self, profile: Profile, at: i64) -> f64 {
        match profile {
            Profile::Count { .. } => (self.level * activity(at) * self.noise()).round(),
            Profile::Money { .. } => {
                (self.level * activity(at) * self.noise() * 100.0).round() / 100.0
            }
            Profile::Level { .. } => {
                // Mostly up, sometimes a little down (unfollows).
                self.level *= 1.0 + self.growth * (1.5 * self.rng.f64() - 0.25);
                self.level.round().max(0.0)
            }
            Profile::Gauge { .. } => {
                (self.level * (0.9 + 0.2 * self.rng.f64()) * 100.0).round() / 100.0
            }
        }
    }

    /// A factor of 0.75 to 1.25, the period-to-period scatter of counts.
    fn noise(&mut self) -> f64 {
        0.75 + 0.5 * self.rng.f64()
    }
}

/// A value between `low` and `high`, uniform in log scale, so small accounts
/// are as common as big ones are rare.
fn log_uniform(rng: &mut Rng, low: f64, high: f64) -> f64 {
    low * (high / low).powf(rng.f64())
}

/// How busy social networks are at `at` (Unix microseconds), relative to
/// the average: a daily wave peaking mid-afternoon UTC and a quieter
/// weekend.
fn activity(at: i64) -> f64 {
    let hour = at.rem_euclid(DAY_MICROS) as f64 / 3_600e6;
    let daily = 1.0 + 0.5 * (std::f64::consts::TAU * (hour - 9.0) / 24.0).sin();
    // 1970-01-01 was a Thursday, so day + 4 counts from a Sunday.
    let weekday = (at.div_euclid(DAY_MICROS) + 4).rem_euclid(7);
    let weekly = if weekday == 0 || weekday == 6 {
        0.75
    } else {
        1.0
    };
    daily * weekly
}
