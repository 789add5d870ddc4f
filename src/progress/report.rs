//! Evaluating the many goals of a report at one moment, over a few
//! connections that share one snapshot.
//!
//! A report's goals are independent reads, and one connection runs them one
//! after the other while the database's other cores wait. A couple of extra
//! connections, each importing the first one's exported snapshot
//! (`pg_export_snapshot`, `SET TRANSACTION SNAPSHOT`), see exactly the same
//! data, so the report is still one consistent picture. The extra
//! connections are optional: taken only while at most half of the pool is
//! in use and if the pool hands them over within a few milliseconds, so a
//! report never waits on, or starves, other calls.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, PgPool, Postgres};
use tokio::task::JoinSet;

use super::evaluate::{Evaluator, GoalProgress};
use crate::db::snapshot;
use crate::error::ApiError;
use crate::goals::model::Goal;

/// Connections a report may borrow beside its own.
const EXTRA_READERS: usize = 2;

/// How long a report waits for each extra connection before going on
/// without it.
const EXTRA_READER_WAIT: Duration = Duration::from_millis(20);

/// Reports with fewer goals than this are evaluated on one connection: the
/// extra connections' set-up would cost more than they save.
const SHARED_FROM_GOALS: usize = 16;

/// Goals whose reads are made together: one statement of each kind for all
/// their key results' windows, rather than a few per key result.
const BATCH_GOALS: usize = 32;

/// The goals of batches `first`, `first + step`, … (by index), evaluated
/// batch by batch, each batch's reads made together and forgotten after it.
async fn evaluate_batches(
    conn: &mut PgConnection,
    evaluator: &Evaluator,
    goals: &[Goal],
    first: usize,
    step: usize,
    as_of: DateTime<Utc>,
) -> Result<Vec<(usize, GoalProgress)>, ApiError> {
    let mut evaluated = Vec::new();
    for (batch, chunk) in goals
        .chunks(BATCH_GOALS)
        .enumerate()
        .skip(first)
        .step_by(step)
    {
        let chunk_refs: Vec<&Goal> = chunk.iter().collect();
        evaluator.prefetch(conn, &chunk_refs, as_of).await?;
        for (offset, goal) in chunk.iter().enumerate() {
            evaluated.push((
                batch * BATCH_GOALS + offset,
                evaluator.goal_progress(conn, goal, as_of).await?,
            ));
        }
        evaluator.forget_reads();
    }
    Ok(evaluated)
}

/// Each goal's progress at `as_of`, in order. `conn` is in the report's
/// repeatable-read snapshot; extra readers share it.
pub async fn evaluate_goals(
    pool: &PgPool,
    conn: &mut PgConnection,
    evaluator: Arc<Evaluator>,
    goals: Arc<Vec<Goal>>,
    as_of: DateTime<Utc>,
) -> Result<Vec<GoalProgress>, ApiError> {
    let extra = if goals.len() < SHARED_FROM_GOALS {
        Vec::new()
    } else {
        borrow_readers(pool).await
    };
    if extra.is_empty() {
        let evaluated = evaluate_batches(conn, &evaluator, &goals, 0, 1, as_of).await?;
        return Ok(evaluated
            .into_iter()
            .map(|(_, progress)| progress)
            .collect());
    }

    let snapshot: String = sqlx::query_scalar("select pg_export_snapshot()")
        .fetch_one(&mut *conn)
        .await?;
    if !snapshot.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(ApiError::internal(
            "an exported snapshot id of unexpected form",
        ));
    }
    let readers = extra.len() + 1;
    let mut tasks = JoinSet::new();
    for (index, reader) in extra.into_iter().enumerate() {
        let (evaluator, goals, snapshot) = (evaluator.sibling(), goals.clone(), snapshot.clone());
        tasks.spawn(async move {
            evaluate_share(
                reader,
                &snapshot,
                &evaluator,
                &goals,
                index + 1,
                readers,
                as_of,
            )
            .await
        });
    }
    let mut progress: Vec<Option<GoalProgress>> = vec![None; goals.len()];
    for (index, goal_progress) in
        evaluate_batches(conn, &evaluator, &goals, 0, readers, as_of).await?
    {
        progress[index] = Some(goal_progress);
    }
    while let Some(joined) = tasks.join_next().await {
        let share = joined.map_err(ApiError::internal)??;
        for (index, goal_progress) in share {
            progress[index] = Some(goal_progress);
        }
    }
    progress
        .into_iter()
        .map(|goal_progress| {
            goal_progress.ok_or_else(|| ApiError::internal("a report's goal went unevaluated"))
        })
        .collect()
}

/// Up to [`EXTRA_READERS`] connections the pool can spare at once: only
/// while at most half of the pool is in use, so a burst of reports leaves
/// the other half to everyone else.
async fn borrow_readers(pool: &PgPool) -> Vec<PoolConnection<Postgres>> {
    let half = pool.options().get_max_connections() / 2;
    let mut readers = Vec::with_capacity(EXTRA_READERS);
    while readers.len() < EXTRA_READERS {
        let in_use = pool.size().saturating_sub(pool.num_idle() as u32);
        if in_use >= half {
            break;
        }
        match tokio::time::timeout(EXTRA_READER_WAIT, pool.acquire()).await {
            Ok(Ok(reader)) => readers.push(reader),
            _ => break,
        }
    }
    readers
}

/// One extra reader's share: the batches of goals at `first`, `first +
/// step`, … in the exported snapshot.
async fn evaluate_share(
    mut reader: PoolConnection<Postgres>,
    snapshot: &str,
    evaluator: &Evaluator,
    goals: &[Goal],
    first: usize,
    step: usize,
    as_of: DateTime<Utc>,
) -> Result<Vec<(usize, GoalProgress)>, ApiError> {
    let mut tx = reader.begin_with(snapshot::BEGIN).await?;
    sqlx::query(&format!("set transaction snapshot '{snapshot}'"))
        .execute(&mut *tx)
        .await?;
    let share = evaluate_batches(&mut tx, evaluator, goals, first, step, as_of).await?;
    snapshot::end(tx);
    Ok(share)
}
