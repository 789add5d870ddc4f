//! `ProgressService`: parse the request, read the goals and evaluate them in
//! one read-only snapshot, convert the numbers.

use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::convert;
use super::evaluate::{Evaluator, not_time_bound, period_of};
use super::report;
use super::watch;
use crate::api::list::ListRequest;
use crate::api::names::GOALS;
use crate::api::pagination::PageSizes;
use crate::api::pagination::TokenTime;
use crate::api::time;
use crate::api::validate;
use crate::changes::hub::Hub;
use crate::db::snapshot;
use crate::error::{ApiError, Violations};
use crate::goals::cache::GoalCache;
use crate::goals::checks::framework_checks;
use crate::goals::model::Goal;
use crate::goals::repo;
use crate::observations::read::ReadCaches;
use crate::observations::read::buckets::{self, Interval, MAX_BUCKETS};
use crate::pb;

/// The gRPC `ProgressService`.
#[derive(Clone)]
pub struct ProgressApi {
    pool: PgPool,
    hub: Hub,
    page_sizes: PageSizes,
    goals: GoalCache,
    read_caches: ReadCaches,
}

impl ProgressApi {
    /// The service over a database pool, hearing of changes from `hub`,
    /// listing in pages of `page_sizes`, reading goals through `goals` and
    /// the rest through `read_caches` (caches the change listener must
    /// follow).
    pub fn new(
        pool: PgPool,
        hub: Hub,
        page_sizes: PageSizes,
        goals: GoalCache,
        read_caches: ReadCaches,
    ) -> Self {
        ProgressApi {
            pool,
            hub,
            page_sizes,
            goals,
            read_caches,
        }
    }
}

/// The stream type of WatchGoalProgress.
pub type GoalProgressStream =
    Pin<Box<dyn Stream<Item = Result<pb::GoalProgress, Status>> + Send + 'static>>;

/// The moment to evaluate at: `as_of` when given (never in the future, where
/// nothing has been observed yet), else now.
fn moment(
    violations: &mut Violations,
    field: &str,
    given: Option<&prost_types::Timestamp>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let Some(timestamp) = given else {
        return Some(now);
    };
    let at = violations.absorb(time::from_proto(field, timestamp))?;
    if at > now {
        violations.add(
            field,
            "must not be in the future: progress counts only what has been observed, so evaluate at now or earlier",
        );
        return None;
    }
    Some(at)
}

/// The goal named in `goal` and the moment `as_of` (now when absent), with
/// every problem of both reported at once.
fn goal_at(
    goal: &str,
    as_of: Option<&prost_types::Timestamp>,
) -> Result<(Uuid, DateTime<Utc>), ApiError> {
    let mut violations = Violations::default();
    let goal_id = violations.absorb(GOALS.parse("goal", goal));
    let as_of = moment(&mut violations, "as_of", as_of, Utc::now());
    match violations.finish((goal_id, as_of))? {
        (Some(goal_id), Some(as_of)) => Ok((goal_id, as_of)),
        _ => Err(ApiError::internal("validated fields are missing")),
    }
}

async fn get_goal_progress(
    api: &ProgressApi,
    request: pb::GetGoalProgressRequest,
) -> Result<pb::GoalProgress, ApiError> {
    let pb::GetGoalProgressRequest { goal, as_of } = request;
    let (goal_id, as_of) = goal_at(&goal, as_of.as_ref())?;
    let mut conn = api.pool.acquire().await?;
    let mut tx = snapshot::begin(&mut conn).await?;
    let goal = api.goals.get_or_load(&mut tx, goal_id).await?;
    let evaluator = Evaluator::new(&mut tx, &api.read_caches, [&*goal]).await?;
    let progress = evaluator.goal_progress(&mut tx, &goal, as_of).await?;
    snapshot::end(tx);
    Ok(convert::goal_progress(&goal, progress))
}

/// The keyset position of a report page: the last goal's id and the
/// report's moment, so every page describes the same moment.
type ReportKey = (Uuid, TokenTime);

async fn list_goal_progress(
    api: &ProgressApi,
    request: pb::ListGoalProgressRequest,
) -> Result<pb::ListGoalProgressResponse, ApiError> {
    let pb::ListGoalProgressRequest {
        page_size,
        page_token,
        filter,
        as_of,
    } = request;
    let now = Utc::now();
    let list: ListRequest<ReportKey> = ListRequest::parse(
        api.page_sizes,
        page_size,
        &page_token,
        filter,
        repo::filter_fields(),
    )?;
    let mut violations = Violations::default();
    // Only a given moment is checked; without one the token's or now is used.
    let given = as_of
        .as_ref()
        .and_then(|timestamp| moment(&mut violations, "as_of", Some(timestamp), now));
    violations.finish(())?;
    let as_of = match (given, &list.after) {
        (Some(at), _) => at,
        (None, Some((_, TokenTime(at)))) => *at,
        (None, None) => now,
    };
    let mut conn = api.pool.acquire().await?;
    let mut tx = snapshot::begin(&mut conn).await?;
    // The counts cover the whole report, so every matching goal is
    // evaluated; the page is the part of them after the token. Goals
    // without a time frame have no progress and are left out.
    let goals: Vec<Goal> = repo::list_goals(&mut tx, &list.conditions, None, i64::MAX)
        .await?
        .into_iter()
        .filter(|goal| period_of(goal).is_some())
        .collect();
    let evaluator = Arc::new(Evaluator::new(&mut tx, &api.read_caches, &goals).await?);
    let goals = Arc::new(goals);
    let evaluated =
        report::evaluate_goals(&api.pool, &mut tx, evaluator, goals.clone(), as_of).await?;
    let mut counts = [0i32; 6];
    let mut rows = Vec::new();
    let after = list.after.map(|(id, _)| id);
    for (goal, progress) in goals.iter().zip(evaluated) {
        counts[convert::status_index(progress.status)] += 1;
        if after.is_none_or(|after| goal.id > after) && rows.len() as i64 <= list.page_size {
            rows.push((goal.id, convert::goal_progress(goal, progress)));
        }
    }
    snapshot::end(tx);
    let (rows, next_page_token) = list.into_page(rows, |(id, _)| (*id, TokenTime(as_of)));
    Ok(pb::ListGoalProgressResponse {
        goal_progress: rows.into_iter().map(|(_, progress)| progress).collect(),
        status_counts: convert::status_counts(counts),
        next_page_token,
    })
}

async fn get_progress_history(
    api: &ProgressApi,
    request: pb::GetProgressHistoryRequest,
) -> Result<pb::GetProgressHistoryResponse, ApiError> {
    let pb::GetProgressHistoryRequest {
        goal,
        start,
        end,
        interval,
    } = request;
    let now = Utc::now();
    let mut violations = Violations::default();
    let goal_id = violations.absorb(GOALS.parse("goal", &goal));
    let start = start
        .as_ref()
        .and_then(|at| violations.absorb(time::from_proto("start", at)));
    let end = end
        .as_ref()
        .and_then(|timestamp| moment(&mut violations, "end", Some(timestamp), now));
    let interval =
        match validate::enum_value::<pb::Interval>(&mut violations, "interval", interval, false) {
            Some(pb::Interval::Hour) => Interval::Hour,
            Some(pb::Interval::Week) => Interval::Week,
            Some(pb::Interval::Month) => Interval::Month,
            _ => Interval::Day,
        };
    let goal_id = violations.finish(goal_id)?;
    let Some(goal_id) = goal_id else {
        return Err(ApiError::internal("validated fields are missing"));
    };
    let mut conn = api.pool.acquire().await?;
    let mut tx = snapshot::begin(&mut conn).await?;
    let goal = api.goals.get_or_load(&mut tx, goal_id).await?;
    let period = period_of(&goal).ok_or_else(|| not_time_bound(&goal))?;
    let start = start.unwrap_or(period.start);
    let end = end.unwrap_or_else(|| now.min(goal.deadline.unwrap_or(now)));
    let moments = history_moments(start, end, interval)?;
    let evaluator = Evaluator::new(&mut tx, &api.read_caches, [&*goal]).await?;
    let steps = evaluator.score_history(&mut tx, &goal, &moments).await?;
    snapshot::end(tx);
    Ok(pb::GetProgressHistoryResponse {
        steps: steps
            .into_iter()
            .map(|step| convert::history_step(&goal, step))
            .collect(),
    })
}

/// Every boundary of `interval` from `start` to `end`, both included.
fn history_moments(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    interval: Interval,
) -> Result<Vec<DateTime<Utc>>, ApiError> {
    if end < start {
        return Err(ApiError::invalid_field(
            "end",
            "must not be before start (which defaults to the goal's start_time)",
        ));
    }
    let too_many = || {
        ApiError::invalid_field(
            "interval",
            format!(
                "would make more than {MAX_BUCKETS} steps: use a longer interval or a shorter range"
            ),
        )
    };
    let mut moments: Vec<DateTime<Utc>> = buckets::buckets(start, end, interval)
        .map_err(|_| too_many())?
        .into_iter()
        .map(|bucket| bucket.start)
        .collect();
    moments.push(end);
    if moments.len() > MAX_BUCKETS {
        return Err(too_many());
    }
    Ok(moments)
}

async fn check_goal(
    api: &ProgressApi,
    request: pb::CheckGoalRequest,
) -> Result<pb::CheckGoalResponse, ApiError> {
    let pb::CheckGoalRequest { goal, as_of } = request;
    let (goal_id, as_of) = goal_at(&goal, as_of.as_ref())?;
    let mut conn = api.pool.acquire().await?;
    let mut tx = snapshot::begin(&mut conn).await?;
    let goal = api.goals.get_or_load(&mut tx, goal_id).await?;
    let evaluator = Evaluator::new(&mut tx, &api.read_caches, [&*goal]).await?;
    let mut achievability = Vec::new();
    for key_result in &goal.key_results {
        if let Some(judged) = evaluator
            .achievability(&mut tx, &goal, key_result, as_of)
            .await?
        {
            achievability.push(convert::achievability(&goal, key_result, judged));
        }
    }
    snapshot::end(tx);
    let checks = framework_checks(&goal);
    Ok(pb::CheckGoalResponse {
        goal: GOALS.name(goal.id),
        passed: checks.iter().all(|check| check.passed),
        checks: checks
            .into_iter()
            .map(|check| pb::GoalCheck {
                check: check.check.to_owned(),
                passed: check.passed,
                message: check.message,
            })
            .collect(),
        achievability,
    })
}

#[tonic::async_trait]
impl pb::progress_service_server::ProgressService for ProgressApi {
    type WatchGoalProgressStream = GoalProgressStream;

    async fn get_goal_progress(
        &self,
        request: Request<pb::GetGoalProgressRequest>,
    ) -> Result<Response<pb::GoalProgress>, Status> {
        Ok(Response::new(
            get_goal_progress(self, request.into_inner()).await?,
        ))
    }

    async fn list_goal_progress(
        &self,
        request: Request<pb::ListGoalProgressRequest>,
    ) -> Result<Response<pb::ListGoalProgressResponse>, Status> {
        Ok(Response::new(
            list_goal_progress(self, request.into_inner()).await?,
        ))
    }

    async fn get_progress_history(
        &self,
        request: Request<pb::GetProgressHistoryRequest>,
    ) -> Result<Response<pb::GetProgressHistoryResponse>, Status> {
        Ok(Response::new(
            get_progress_history(self, request.into_inner()).await?,
        ))
    }

    async fn watch_goal_progress(
        &self,
        request: Request<pb::WatchGoalProgressRequest>,
    ) -> Result<Response<Self::WatchGoalProgressStream>, Status> {
        Ok(Response::new(
            watch::watch(
                self.pool.clone(),
                self.hub.clone(),
                self.read_caches.clone(),
                request.into_inner(),
            )
            .await?,
        ))
    }

    async fn check_goal(
        &self,
        request: Request<pb::CheckGoalRequest>,
    ) -> Result<Response<pb::CheckGoalResponse>, Status> {
        Ok(Response::new(check_goal(self, request.into_inner()).await?))
    }
}
