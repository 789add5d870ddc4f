//! Progress snapshots for BI (DESIGN §4): every active goal's and key
//! result's progress at each UTC midnight of its time frame, and at its
//! closing, computed by the progress engine and stored in
//! `progress_snapshot` / `key_result_progress_snapshot`.
//!
//! A daily snapshot evaluates a fixed past moment, so any replica computing
//! it gets the same numbers from the same data; the moment is the key, and
//! inserts of a key already there change nothing. Two replicas, or one
//! restarted, never double a snapshot. A snapshot records what was known
//! when it was taken (`recorded_at`); data backfilled later does not rewrite
//! it.

pub mod recorder;

use chrono::{DateTime, NaiveTime, TimeDelta, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::error::ApiError;
use crate::goals::model::Goal;
use crate::goals::repo;
use crate::observations::read::ReadCaches;
use crate::progress::evaluate::{Evaluator, GoalProgress, KeyResultStanding, ScoreStep};

/// The most midnights one goal's catch-up evaluates in one read: a goal
/// whose time frame began years ago catches up over several rounds.
const MOMENTS_PER_ROUND: usize = 366;

/// Why a snapshot was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A UTC midnight of the goal's time frame.
    Daily,
    /// The goal closed.
    Close,
}

impl Reason {
    fn stored(self) -> &'static str {
        match self {
            Reason::Daily => "DAILY",
            Reason::Close => "CLOSE",
        }
    }
}

/// The UTC midnights in `(after, min(now, deadline)]` that are also after
/// `start`, oldest first, at most `limit` of them.
pub fn due_midnights(
    start: DateTime<Utc>,
    deadline: DateTime<Utc>,
    after: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    limit: usize,
) -> Vec<DateTime<Utc>> {
    let from = after.map_or(start, |after| after.max(start));
    let upto = now.min(deadline);
    let mut midnight = (from.date_naive() + TimeDelta::days(1))
        .and_time(NaiveTime::MIN)
        .and_utc();
    let mut moments = Vec::new();
    while midnight <= upto && moments.len() < limit {
        moments.push(midnight);
        midnight += TimeDelta::days(1);
    }
    moments
}

/// Records every daily snapshot due by `now` that no replica has recorded
/// yet; returns how many goal snapshots were written.
pub async fn record_due(pool: &PgPool, now: DateTime<Utc>) -> Result<usize, ApiError> {
    let mut written = 0;
    loop {
        let round = record_round(pool, now).await?;
        written += round.written;
        if !round.more {
            return Ok(written);
        }
    }
}

struct Round {
    written: usize,
    /// Some goal had more midnights due than one round evaluates.
    more: bool,
}

/// One round: each active goal's next due midnights, evaluated in one
/// snapshot and written in one transaction.
async fn record_round(pool: &PgPool, now: DateTime<Utc>) -> Result<Round, ApiError> {
    let mut conn = pool.acquire().await?;
    let mut tx = crate::db::snapshot::begin(&mut conn).await?;
    type Due = (Uuid, DateTime<Utc>, DateTime<Utc>, Option<DateTime<Utc>>);
    let active: Vec<Due> = sqlx::query_as(
        "select g.goal_id, g.start_time, g.deadline,
                (select max(s.as_of) from progress_snapshot s
                 where s.goal_id = g.goal_id and s.reason = 'DAILY')
         from goal g
         where g.state = 'ACTIVE' and g.start_time < $1
         order by g.goal_id",
    )
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    // The recorder runs apart from the calls and rarely: it reads the
    // catalog itself rather than share the calls' caches.
    let read_caches = &ReadCaches::default();
    let mut evaluator: Option<Evaluator> = None;
    let mut snapshots: Vec<(Goal, Vec<ScoreStep>)> = Vec::new();
    let mut more = false;
    for (goal_id, start, deadline, last) in active {
        // Most rounds find nothing due: decided before reading the goal.
        let moments = due_midnights(start, deadline, last, now, MOMENTS_PER_ROUND);
        if moments.is_empty() {
            continue;
        }
        let Some(goal) = repo::get_goal(&mut tx, goal_id).await? else {
            continue;
        };
        more |= moments.len() == MOMENTS_PER_ROUND;
        let evaluator = match &mut evaluator {
            Some(evaluator) if evaluator.covers(&goal) => evaluator,
            _ => evaluator.insert(Evaluator::new(&mut tx, read_caches, [&goal]).await?),
        };
        let steps = evaluator.score_history(&mut tx, &goal, &moments).await?;
        snapshots.push((goal, steps));
    }
    tx.commit().await?;
    drop(conn);
    if snapshots.is_empty() {
        return Ok(Round { written: 0, more });
    }
    let mut tx = pool.begin().await?;
    let mut written = 0;
    for (goal, steps) in &snapshots {
        written += insert_steps(&mut tx, goal, steps, Reason::Daily).await?;
    }
    tx.commit().await?;
    Ok(Round { written, more })
}

/// Records the snapshot of a goal's closing, in the closing transaction.
pub async fn record_closing(
    conn: &mut PgConnection,
    goal: &Goal,
    progress: &GoalProgress,
) -> Result<(), ApiError> {
    let step = ScoreStep {
        time: progress.as_of,
        score: progress.score,
        expected: progress.expected,
        status: progress.status,
        grade: progress.grade,
        complete: progress.complete,
        key_results: progress
            .key_results
            .iter()
            .map(|key_result| key_result.standing)
            .collect(),
    };
    insert_steps(conn, goal, &[step], Reason::Close).await?;
    Ok(())
}

/// Inserts snapshots of `goal` at each step, skipping moments already
/// recorded; returns how many goal snapshots were new.
async fn insert_steps(
    conn: &mut PgConnection,
    goal: &Goal,
    steps: &[ScoreStep],
    reason: Reason,
) -> Result<usize, ApiError> {
    let times: Vec<DateTime<Utc>> = steps.iter().map(|step| step.time).collect();
    let inserted: Vec<DateTime<Utc>> = sqlx::query_scalar(
        "insert into progress_snapshot
             (goal_id, as_of, reason, score, expected, status, grade, complete)
         select $1, step.as_of, $2, step.score, step.expected, step.status, step.grade,
                step.complete
         from unnest($3::timestamptz[], $4::float8[], $5::float8[], $6::text[], $7::text[],
                     $8::bool[]) as step (as_of, score, expected, status, grade, complete)
         on conflict (goal_id, as_of) do nothing
         returning as_of",
    )
    .bind(goal.id)
    .bind(reason.stored())
    .bind(&times)
    .bind(steps.iter().map(|step| step.score).collect::<Vec<_>>())
    .bind(steps.iter().map(|step| step.expected).collect::<Vec<_>>())
    .bind(
        steps
            .iter()
            .map(|step| step.status.to_string())
            .collect::<Vec<_>>(),
    )
    .bind(
        steps
            .iter()
            .map(|step| step.grade.to_string())
            .collect::<Vec<_>>(),
    )
    .bind(steps.iter().map(|step| step.complete).collect::<Vec<_>>())
    .fetch_all(&mut *conn)
    .await?;
    // Key results only of the moments this call inserted: another
    // replica's are its own.
    let mut rows: Vec<(DateTime<Utc>, Uuid, KeyResultStanding)> = Vec::new();
    for step in steps.iter().filter(|step| inserted.contains(&step.time)) {
        for (key_result, numbers) in goal.key_results.iter().zip(&step.key_results) {
            rows.push((step.time, key_result.id, *numbers));
        }
    }
    if !rows.is_empty() {
        let progress: Vec<Option<f64>> = rows
            .iter()
            .map(|(_, _, standing)| standing.progress())
            .collect();
        sqlx::query(
            "insert into key_result_progress_snapshot
                 (goal_id, as_of, key_result_id, baseline, current, target, progress, score,
                  expected, status)
             select $1, row.* from unnest($2::timestamptz[], $3::uuid[], $4::float8[],
                 $5::float8[], $6::float8[], $7::float8[], $8::float8[], $9::float8[], $10::text[])
                 as row",
        )
        .bind(goal.id)
        .bind(rows.iter().map(|(at, _, _)| *at).collect::<Vec<_>>())
        .bind(rows.iter().map(|(_, id, _)| *id).collect::<Vec<_>>())
        .bind(rows.iter().map(|(_, _, n)| n.baseline).collect::<Vec<_>>())
        .bind(rows.iter().map(|(_, _, n)| n.current).collect::<Vec<_>>())
        .bind(rows.iter().map(|(_, _, n)| n.target).collect::<Vec<_>>())
        .bind(progress)
        .bind(rows.iter().map(|(_, _, n)| n.score).collect::<Vec<_>>())
        .bind(rows.iter().map(|(_, _, n)| n.expected).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|(_, _, n)| n.status.to_string())
                .collect::<Vec<_>>(),
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(inserted.len())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap()
    }

    #[test]
    fn the_midnights_after_the_start_up_to_now_are_due() {
        let due = due_midnights(at(1, 9), at(31, 0), None, at(4, 12), 366);
        assert_eq!(due, [at(2, 0), at(3, 0), at(4, 0)]);
    }

    #[test]
    fn a_midnight_start_is_not_a_snapshot_of_its_own() {
        let due = due_midnights(at(1, 0), at(31, 0), None, at(2, 0), 366);
        assert_eq!(
            due,
            [at(2, 0)],
            "progress at the start is zero by definition"
        );
    }

    #[test]
    fn recorded_midnights_and_those_after_the_deadline_are_not_due() {
        let due = due_midnights(at(1, 9), at(5, 12), Some(at(3, 0)), at(20, 0), 366);
        assert_eq!(due, [at(4, 0), at(5, 0)]);
        assert!(due_midnights(at(1, 9), at(31, 0), Some(at(4, 0)), at(4, 23), 366).is_empty());
    }

    #[test]
    fn a_long_catch_up_is_split_into_rounds() {
        let due = due_midnights(at(1, 9), at(31, 0), None, at(31, 0), 7);
        assert_eq!(due.len(), 7);
        assert_eq!(due[6], at(8, 0));
    }
}
