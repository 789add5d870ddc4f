//! What a metric key result reads: its windows, the memo of one answer's
//! reads, and the batched prefetch of many key results' windows at once.

use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};
use rustc_hash::{FxHashMap, FxHashSet};
use sqlx::PgConnection;

use super::{Evaluator, period_of};
use crate::catalog::Better;
use crate::error::ApiError;
use crate::goals::model::{BaselineSpec, Goal, Measure, MetricMeasure};
use crate::observations::read::ReadCaches;
use crate::observations::read::day_grid::EdgeMemo;
use crate::observations::read::evaluate::{
    self, MetricPlan, MetricRead, Selection, Window, WindowValue,
};
use crate::progress::forecast;
use crate::progress::math::Period;

/// The window of a metric key result ending at `at`: trailing
/// `(at − window_days, at]`, or cumulative `[start, at]`.
fn window_at(measure: &MetricMeasure, start: DateTime<Utc>, at: DateTime<Utc>) -> Window {
    if measure.window_days > 0 {
        Window::trailing(at, TimeDelta::days(i64::from(measure.window_days)))
    } else {
        Window::closed(start, at)
    }
}

/// What a metric key result reads, resolved once per answer.
pub(in crate::progress) struct MetricReads<'a> {
    pub(in crate::progress) measure: &'a MetricMeasure,
    pub(super) plan: MetricPlan,
    pub(super) selection: Selection,
    pub(in crate::progress) better: Better,
    memo: &'a ReadMemo,
    edges: &'a EdgeMemo,
    caches: &'a ReadCaches,
}

/// The reads one answer has made, by metric, selection and windows. One
/// answer is one snapshot, so a read asked again (key results of a report
/// that read the same metric over the same accounts and windows) has the
/// same values and is not made again.
#[derive(Default)]
pub(super) struct ReadMemo(Mutex<FxHashMap<ReadKey, Vec<WindowValue>>>);

type ReadKey = (String, Selection, Vec<Window>);

/// Reads remembered per answer at most: a report's memory stays bounded
/// however many goals it covers.
const MEMO_READS: usize = 4_096;

impl ReadMemo {
    fn holds(&self, key: &ReadKey) -> bool {
        self.0.lock().is_ok_and(|reads| reads.contains_key(key))
    }

    /// Forgets every read, keeping the memory of a long report bounded.
    pub(super) fn clear(&self) {
        if let Ok(mut reads) = self.0.lock() {
            reads.clear();
        }
    }

    fn get(&self, key: &ReadKey) -> Option<Vec<WindowValue>> {
        self.0.lock().ok()?.get(key).cloned()
    }

    fn remember(&self, key: ReadKey, values: &[WindowValue]) {
        if let Ok(mut reads) = self.0.lock()
            && reads.len() < MEMO_READS
        {
            reads.insert(key, values.to_vec());
        }
    }
}

impl<'a> MetricReads<'a> {
    pub(in crate::progress) fn of(
        measure: &'a MetricMeasure,
        evaluator: &'a Evaluator,
    ) -> Option<Self> {
        let catalog = &evaluator.catalog;
        let record = catalog.get(&measure.metric_key)?;
        Some(MetricReads {
            measure,
            plan: MetricPlan::resolve(catalog, &measure.metric_key)?,
            selection: Selection::from_list(measure.accounts.iter().copied()),
            better: record.better,
            memo: &evaluator.memo,
            edges: &evaluator.edges,
            caches: &evaluator.caches,
        })
    }

    /// Asks for rollups of the key result's selection of accounts, for the
    /// next reads, when some of its composable base metrics has none yet.
    fn ask_for_rollups(&self, goal: &Goal) {
        let Selection::Some {
            accounts,
            organisation,
        } = &self.selection
        else {
            return;
        };
        let rollups = self.caches.series.rollups();
        if (self.plan.composable_keys().iter())
            .any(|key| rollups.id(key, accounts, *organisation).is_none())
        {
            rollups.request(goal.id);
        }
    }

    /// The baseline's window when it is read from data, else its fixed
    /// value (`Err`).
    fn baseline_window(&self, period: Period) -> Result<Window, Option<f64>> {
        match self.measure.baseline {
            BaselineSpec::Value(value) => Err(Some(value)),
            BaselineSpec::Range { start, end } => Ok(Window::closed(start, end)),
            BaselineSpec::Default if self.measure.window_days == 0 => Err(Some(0.0)),
            BaselineSpec::Default => Ok(window_at(self.measure, period.start, period.start)),
        }
    }

    /// The baseline followed by the value of the window ending at each of
    /// `moments`, in one read.
    pub(in crate::progress) async fn values(
        &self,
        conn: &mut PgConnection,
        period: Period,
        moments: &[DateTime<Utc>],
    ) -> Result<(Option<f64>, Vec<Option<f64>>), ApiError> {
        let (baseline, windows) = self.readings(conn, period, moments).await?;
        Ok((
            baseline,
            windows.into_iter().map(|window| window.value).collect(),
        ))
    }

    /// The read behind [`Self::readings`]: its memo key (the windows, the
    /// baseline's first when it is read from data).
    fn read_key(&self, period: Period, moments: &[DateTime<Utc>]) -> ReadKey {
        let mut windows: Vec<Window> = Vec::with_capacity(moments.len() + 1);
        if let Ok(window) = self.baseline_window(period) {
            windows.push(window);
        }
        windows.extend(
            moments
                .iter()
                .map(|at| window_at(self.measure, period.start, *at)),
        );
        (
            self.measure.metric_key.clone(),
            self.selection.clone(),
            windows,
        )
    }

    /// [`Self::values`], with the time of each window's newest observation.
    pub(super) async fn readings(
        &self,
        conn: &mut PgConnection,
        period: Period,
        moments: &[DateTime<Utc>],
    ) -> Result<(Option<f64>, Vec<WindowValue>), ApiError> {
        let key = self.read_key(period, moments);
        let mut values = match self.memo.get(&key) {
            Some(values) => values,
            None => {
                let values = evaluate::evaluate_with_times(
                    conn,
                    &self.caches.series,
                    self.edges,
                    &self.plan,
                    &self.selection,
                    &key.2,
                )
                .await?;
                self.memo.remember(key, &values);
                values
            }
        };
        let baseline = match self.baseline_window(period) {
            Ok(_) => values.remove(0).value,
            Err(fixed) => fixed,
        };
        Ok((baseline, values))
    }
}

/// The moments a metric key result's progress at `as_of` reads the window
/// ending at: `as_of` itself, then each forecast sample's day as it ends
/// (the instant before its closing boundary: a window of whole UTC days,
/// which the rollups serve alone), when there is a forecast.
pub(super) fn progress_moments(
    period: Period,
    as_of: DateTime<Utc>,
) -> (Vec<DateTime<Utc>>, Vec<DateTime<Utc>>) {
    let samples = if as_of < period.deadline {
        forecast::forecast_days(as_of, period.start)
    } else {
        Vec::new()
    };
    let mut moments = vec![as_of];
    moments.extend(
        samples
            .iter()
            .filter(|sample| **sample != as_of)
            .map(|sample| *sample - TimeDelta::microseconds(1)),
    );
    (samples, moments)
}

impl Evaluator {
    /// Reads, all in one batch, what the metric key results of `goals` need
    /// for their progress at `as_of` and the memo lacks, so that
    /// [`Self::goal_progress`] finds it there.
    pub async fn prefetch(
        &self,
        conn: &mut PgConnection,
        goals: &[&Goal],
        as_of: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        self.prefetch_at(conn, goals, |period| progress_moments(period, as_of).1)
            .await
    }

    /// [`Self::prefetch`] of the windows ending at `moments(period)` of
    /// each goal.
    pub(super) async fn prefetch_at(
        &self,
        conn: &mut PgConnection,
        goals: &[&Goal],
        moments: impl Fn(Period) -> Vec<DateTime<Utc>>,
    ) -> Result<(), ApiError> {
        let mut wanted: Vec<(ReadKey, MetricReads)> = Vec::new();
        let mut seen: FxHashSet<ReadKey> = FxHashSet::default();
        for goal in goals {
            let Some(period) = period_of(goal) else {
                continue;
            };
            let moments = moments(period);
            for key_result in &goal.key_results {
                if let Measure::Metric(measure) = &key_result.measure
                    && let Some(metric_reads) = MetricReads::of(measure, self)
                {
                    metric_reads.ask_for_rollups(goal);
                    let key = metric_reads.read_key(period, &moments);
                    if !self.memo.holds(&key) && seen.insert(key.clone()) {
                        wanted.push((key, metric_reads));
                    }
                }
            }
        }
        let batch: Vec<MetricRead> = wanted
            .iter()
            .map(|(key, metric_reads)| MetricRead {
                metric: &metric_reads.plan,
                selection: &metric_reads.selection,
                windows: &key.2,
            })
            .collect();
        let values =
            evaluate::evaluate_many(conn, &self.caches.series, &self.edges, &batch).await?;
        for ((key, _), values) in wanted.into_iter().zip(values) {
            self.memo.remember(key, &values);
        }
        Ok(())
    }
}
