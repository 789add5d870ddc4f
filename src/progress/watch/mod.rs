//! WatchGoalProgress: the current progress of each named goal, then a new
//! message whenever an announced write moves one (see `crate::changes`).
//!
//! Each call runs one task. It registers with the process's hub before its
//! first read, so no write committed meanwhile is missed, then evaluates
//! the goals a change may have moved, in one snapshot, and sends those whose
//! news differ from what it sent last. Rounds are at least [`COALESCE`]
//! apart: a burst of writes costs one evaluation per goal per round, not
//! one per write, and a message reaches the client at most [`COALESCE`] plus
//! one evaluation after the write commits. The task sends through a
//! one-message channel: while a client does not read, the task waits and
//! its inbox gathers what changed (bounded, see the hub), so the client
//! later gets the latest state rather than every intermediate one, and no
//! writer ever waits for it.

mod interest;

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use uuid::Uuid;

pub use interest::{Interest, news};

use super::convert;
use super::evaluate::Evaluator;
use super::service::GoalProgressStream;
use crate::api::names::GOALS;
use crate::changes::hub::{Hub, Subscription};
use crate::db::snapshot;
use crate::error::{ApiError, Violations};
use crate::goals::model::Goal;
use crate::goals::repo;
use crate::observations::read::ReadCaches;
use crate::pb;

/// The most goals one call may watch.
pub const MAX_GOALS: usize = 100;

/// The shortest time between two evaluations of one call's goals.
pub const COALESCE: Duration = Duration::from_millis(100);

/// The watched goals' ids, in the order named, without repeats.
fn watched_goals(goals: &[String]) -> Result<Vec<Uuid>, ApiError> {
    let mut violations = Violations::default();
    if goals.is_empty() || goals.len() > MAX_GOALS {
        violations.add(
            "goals",
            format!("must name 1 to {MAX_GOALS} goals, as goals/{{goal}}"),
        );
    }
    let mut ids: Vec<Uuid> = Vec::with_capacity(goals.len());
    for (index, name) in goals.iter().enumerate().take(MAX_GOALS + 1) {
        if let Some(id) = violations.absorb(GOALS.parse(&format!("goals[{index}]"), name))
            && !ids.contains(&id)
        {
            ids.push(id);
        }
    }
    violations.finish(ids)
}

/// A goal as last evaluated.
struct Evaluated {
    interest: Interest,
    progress: pb::GoalProgress,
}

/// Evaluates `ids` at `at` in one snapshot; `None` for a goal that is gone.
async fn evaluate(
    pool: &PgPool,
    read_caches: &ReadCaches,
    ids: &[Uuid],
    at: DateTime<Utc>,
) -> Result<Vec<(Uuid, Option<Evaluated>)>, ApiError> {
    let mut conn = pool.acquire().await?;
    let mut tx = snapshot::begin(&mut conn).await?;
    let mut goals = Vec::with_capacity(ids.len());
    for id in ids {
        goals.push((*id, repo::get_goal(&mut tx, *id).await?));
    }
    let mut present: Vec<&Goal> = Vec::with_capacity(goals.len());
    for (_, goal) in &goals {
        present.extend(goal);
    }
    let evaluator = Evaluator::new(&mut tx, read_caches, present).await?;
    let mut evaluated = Vec::with_capacity(ids.len());
    for (id, goal) in &goals {
        let Some(goal) = goal else {
            evaluated.push((*id, None));
            continue;
        };
        let progress = evaluator.goal_progress(&mut tx, goal, at).await?;
        let interest = Interest::of(goal, |measure| evaluator.base_metrics(measure));
        evaluated.push((
            *id,
            Some(Evaluated {
                interest,
                progress: convert::goal_progress(goal, progress),
            }),
        ));
    }
    snapshot::end(tx);
    Ok(evaluated)
}

/// Starts watching the goals of `request`. Unknown goals, and goals without
/// a time frame, fail the call before anything is streamed.
pub async fn watch(
    pool: PgPool,
    hub: Hub,
    read_caches: ReadCaches,
    request: pb::WatchGoalProgressRequest,
) -> Result<GoalProgressStream, ApiError> {
    let ids = watched_goals(&request.goals)?;
    let subscription = hub.subscribe();
    let started = Utc::now();
    let mut first = Vec::with_capacity(ids.len());
    for (id, evaluated) in evaluate(&pool, &read_caches, &ids, started).await? {
        first.push(evaluated.ok_or_else(|| GOALS.not_found(id))?);
    }
    let (sender, receiver) = mpsc::channel(1);
    let watcher = Watcher {
        pool,
        read_caches,
        hub,
        subscription,
        ids,
        interests: HashMap::new(),
        sent: HashMap::new(),
        sender,
        last_round: started,
    };
    tokio::spawn(watcher.run(first));
    Ok(Box::pin(ReceiverStream::new(receiver)))
}

/// One call's task.
struct Watcher {
    pool: PgPool,
    read_caches: ReadCaches,
    hub: Hub,
    subscription: Subscription,
    ids: Vec<Uuid>,
    interests: HashMap<Uuid, Interest>,
    /// The news of the last message sent per goal.
    sent: HashMap<Uuid, pb::GoalProgress>,
    sender: mpsc::Sender<Result<pb::GoalProgress, Status>>,
    /// The moment the last round evaluated.
    last_round: DateTime<Utc>,
}

/// Why a watch ends.
enum End {
    /// The client went away.
    Gone,
    /// The stream ends with this status.
    With(Status),
}

impl Watcher {
    async fn run(mut self, first: Vec<Evaluated>) {
        let ids = self.ids.clone();
        let mut outcome = Ok(());
        for (id, evaluated) in ids.into_iter().zip(first) {
            outcome = self.send(id, evaluated, true).await;
            if outcome.is_err() {
                break;
            }
        }
        if outcome.is_ok() {
            outcome = self.follow().await;
        }
        if let Err(End::With(status)) = outcome {
            // The client may not be reading: do not wait for it long.
            let _ = tokio::time::timeout(COALESCE, self.sender.send(Err(status))).await;
        }
    }

    /// Rounds of evaluation, as changes arrive, until the watch ends.
    async fn follow(&mut self) -> Result<(), End> {
        let mut next_round = Instant::now();
        loop {
            let timer = self
                .interests
                .values()
                .filter_map(|interest| interest.next_moment(self.last_round))
                .min()
                // A moment that passed while this round waited is due at once.
                .map(|moment| (moment - Utc::now()).to_std().unwrap_or_default())
                .map(|wait| Instant::now() + wait);
            tokio::select! {
                () = self.subscription.arrived() => {}
                () = sleep_until(timer) => {}
                () = self.sender.closed() => return Err(End::Gone),
                () = self.hub.stopped() => return Err(stopping()),
            }
            tokio::select! {
                () = tokio::time::sleep_until(next_round) => {}
                () = self.sender.closed() => return Err(End::Gone),
                () = self.hub.stopped() => return Err(stopping()),
            }
            let mail = self.subscription.take();
            let now = Utc::now();
            let mut due: Vec<(Uuid, bool)> = Vec::new();
            for id in &self.ids {
                let Some(interest) = self.interests.get(id) else {
                    continue;
                };
                let forced = mail.reconnected || interest.passed_between(self.last_round, now);
                let moved =
                    mail.anything || mail.changes.iter().any(|change| interest.moved_by(change));
                if forced || moved {
                    due.push((*id, forced));
                }
            }
            if due.is_empty() {
                continue;
            }
            next_round = Instant::now() + COALESCE;
            self.last_round = now;
            let ids: Vec<Uuid> = due.iter().map(|(id, _)| *id).collect();
            let evaluated = evaluate(&self.pool, &self.read_caches, &ids, now)
                .await
                .map_err(|error| End::With(error.into()))?;
            for ((id, evaluated), (_, forced)) in evaluated.into_iter().zip(due) {
                let evaluated = evaluated.ok_or_else(|| End::With(GOALS.not_found(id).into()))?;
                self.send(id, evaluated, forced).await?;
            }
        }
    }

    /// Sends a goal's progress when forced or when its news changed, and
    /// remembers what the goal now depends on.
    async fn send(&mut self, id: Uuid, evaluated: Evaluated, forced: bool) -> Result<(), End> {
        let Evaluated { interest, progress } = evaluated;
        self.interests.insert(id, interest);
        let news = news(&progress);
        if !forced && self.sent.get(&id) == Some(&news) {
            return Ok(());
        }
        self.sent.insert(id, news);
        tokio::select! {
            sent = self.sender.send(Ok(progress)) => sent.map_err(|_| End::Gone),
            () = self.hub.stopped() => Err(stopping()),
        }
    }
}

fn stopping() -> End {
    End::With(Status::unavailable(
        "the server is shutting down: watch again to resume, starting from the current progress",
    ))
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watched_goals_keep_the_order_named_without_repeats() {
        let first = Uuid::now_v7();
        let second = Uuid::now_v7();
        let names = [first, second, first].map(|id| GOALS.name(id));
        assert_eq!(watched_goals(&names).unwrap(), [first, second]);
    }

    #[test]
    fn watching_needs_one_to_a_hundred_well_named_goals() {
        assert!(watched_goals(&[]).is_err());
        let many: Vec<String> = (0..=MAX_GOALS)
            .map(|_| GOALS.name(Uuid::now_v7()))
            .collect();
        assert!(watched_goals(&many).is_err());
        assert!(watched_goals(&many[..MAX_GOALS]).is_ok());
        assert!(watched_goals(&["accounts/1".to_owned()]).is_err());
    }
}
