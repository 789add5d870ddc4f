//! Progress numbers to their proto form.

use super::achievability::Achievability;
use super::evaluate::{GoalProgress, KeyResultProgress, ScoreStep};
use super::forecast;
use super::math::{Grade, Status};
use crate::api::names::{GOALS, KEY_RESULTS};
use crate::api::time;
use crate::goals::model::{Goal, KeyResult};
use crate::pb;

/// The statuses in enum order, as ListGoalProgress counts them.
const STATUSES: [Status; 6] = [
    Status::NoData,
    Status::OnTrack,
    Status::AtRisk,
    Status::OffTrack,
    Status::Achieved,
    Status::Missed,
];

/// The proto value of a status.
pub fn status(status: Status) -> pb::ProgressStatus {
    match status {
        Status::NoData => pb::ProgressStatus::NoData,
        Status::OnTrack => pb::ProgressStatus::OnTrack,
        Status::AtRisk => pb::ProgressStatus::AtRisk,
        Status::OffTrack => pb::ProgressStatus::OffTrack,
        Status::Achieved => pb::ProgressStatus::Achieved,
        Status::Missed => pb::ProgressStatus::Missed,
    }
}

/// The position of `status` among the counts of a report.
pub fn status_index(status: Status) -> usize {
    STATUSES.iter().position(|s| *s == status).unwrap_or(0)
}

/// A report's counts, one entry per status in enum order.
pub fn status_counts(counts: [i32; 6]) -> Vec<pb::ProgressStatusCount> {
    STATUSES
        .iter()
        .zip(counts)
        .map(|(each, count)| pb::ProgressStatusCount {
            status: status(*each) as i32,
            count,
        })
        .collect()
}

/// The proto value of a grade.
pub fn grade(grade: Grade) -> pb::Grade {
    match grade {
        Grade::Red => pb::Grade::Red,
        Grade::Yellow => pb::Grade::Yellow,
        Grade::Green => pb::Grade::Green,
    }
}

/// A GoalProgress message for `goal`.
pub fn goal_progress(goal: &Goal, progress: GoalProgress) -> pb::GoalProgress {
    pb::GoalProgress {
        goal: GOALS.name(goal.id),
        as_of: Some(time::to_proto(progress.as_of)),
        score: progress.score,
        expected: progress.expected,
        status: status(progress.status) as i32,
        grade: grade(progress.grade) as i32,
        complete: progress.complete,
        key_results: goal
            .key_results
            .iter()
            .zip(progress.key_results)
            .map(|(key_result, progress)| key_result_progress(key_result, progress))
            .collect(),
    }
}

fn key_result_progress(
    key_result: &KeyResult,
    progress: KeyResultProgress,
) -> pb::KeyResultProgress {
    let standing = progress.standing;
    pb::KeyResultProgress {
        key_result: KEY_RESULTS.name(key_result.goal_id, key_result.id),
        baseline: standing.baseline,
        current: standing.current,
        target: standing.target,
        progress: standing.progress(),
        score: standing.score,
        expected: standing.expected,
        status: status(standing.status) as i32,
        forecast: progress
            .forecast
            .map(|forecast| pb::key_result_progress::Forecast {
                projected_value: forecast.projected_value,
                projected_score: forecast.projected_score,
                // A line crossing the target beyond year 9999 has no timestamp.
                completion_time: forecast.completion_time.and_then(time::to_proto_checked),
            }),
        last_observation_time: time::to_proto_opt(progress.last_observation_time),
    }
}

/// One step of a history.
pub fn history_step(goal: &Goal, step: ScoreStep) -> pb::ProgressHistoryStep {
    pb::ProgressHistoryStep {
        time: Some(time::to_proto(step.time)),
        score: step.score,
        expected: step.expected,
        key_results: goal
            .key_results
            .iter()
            .zip(step.key_results)
            .map(|(key_result, step)| pb::KeyResultHistoryStep {
                key_result: KEY_RESULTS.name(key_result.goal_id, key_result.id),
                score: step.score,
                expected: step.expected,
            })
            .collect(),
    }
}

/// A metric key result's achievability.
pub fn achievability(
    goal: &Goal,
    key_result: &KeyResult,
    judged: Achievability,
) -> pb::KeyResultAchievability {
    pb::KeyResultAchievability {
        key_result: KEY_RESULTS.name(goal.id, key_result.id),
        required_slope: judged.required_slope,
        best_historical_slope: judged.best_historical_slope,
        verdict: match judged.verdict {
            forecast::Achievability::Unknown => pb::Achievability::Unknown,
            forecast::Achievability::Likely => pb::Achievability::Likely,
            forecast::Achievability::Stretch => pb::Achievability::Stretch,
            forecast::Achievability::Unlikely => pb::Achievability::Unlikely,
        } as i32,
    }
}
