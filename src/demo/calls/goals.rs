//! The demo goals: found by team and title, else created; missing key
//! results added, milestones marked done with their backdated times, and
//! drafts activated (which also records their daily progress snapshots).

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Clients, all_pages, failed, quoted};
use crate::demo::DemoError;
use crate::demo::goals::{GoalPlan, TEAM};
use crate::demo::request_id::request_id;
use crate::pb;
use crate::pb::goal::State;

/// How long the guide waits for WatchGoalProgress's first message before
/// leaving its command out.
const WATCH_PROBE: Duration = Duration::from_secs(10);

/// The goals of the demo team, by title (the first of each title).
pub async fn find_goals(clients: &mut Clients) -> Result<BTreeMap<String, pb::Goal>, DemoError> {
    let filter = format!("team = {}", quoted(TEAM));
    let client = clients.goals.clone();
    let goals = all_pages(|page_token| {
        let mut client = client.clone();
        let request = pb::ListGoalsRequest {
            page_size: 100,
            page_token,
            filter: filter.clone(),
        };
        async move {
            let response = client
                .list_goals(request)
                .await
                .map_err(failed("looking for the demo goals"))?
                .into_inner();
            Ok((response.goals, response.next_page_token))
        }
    })
    .await?;
    let mut by_title = BTreeMap::new();
    for goal in goals {
        by_title.entry(goal.title.clone()).or_insert(goal);
    }
    Ok(by_title)
}

/// Makes the planned goal exist, complete and active; returns it and whether
/// this run created it. A closed goal is left as it is.
pub async fn ensure_goal(
    clients: &mut Clients,
    plan: &GoalPlan,
    existing: Option<pb::Goal>,
) -> Result<(pb::Goal, bool), DemoError> {
    let title = &plan.goal.title;
    let (goal, created) = match existing {
        Some(goal) => (goal, false),
        None => (create_goal(clients, plan).await?, true),
    };
    if goal.state == State::Closed as i32 {
        return Ok((goal, created));
    }
    let mut goal = get_goal(clients, &goal.name).await?;
    for key_result in &plan.key_results {
        if goal
            .key_results
            .iter()
            .any(|stored| stored.title == key_result.title)
        {
            continue;
        }
        clients
            .goals
            .create_key_result(pb::CreateKeyResultRequest {
                parent: goal.name.clone(),
                key_result: Some(key_result.clone()),
                request_id: request_id(&["key_result", &goal.name, &key_result.title]),
            })
            .await
            .map_err(failed(format!(
                "adding the key result {:?}",
                key_result.title
            )))?;
    }
    goal = get_goal(clients, &goal.name).await?;
    for done in &plan.done {
        let found = goal.key_results.iter().find_map(|key_result| {
            (key_result.title == done.key_result).then_some(())?;
            let milestone = key_result
                .milestones
                .iter()
                .find(|milestone| milestone.title == done.milestone)?;
            Some((key_result.name.clone(), milestone.clone()))
        });
        // A milestone someone renamed, or marked done themselves, stays as it is.
        let Some((key_result, milestone)) = found else {
            continue;
        };
        if milestone.done {
            continue;
        }
        clients
            .goals
            .set_milestone_done(pb::SetMilestoneDoneRequest {
                key_result,
                milestone_id: milestone.id,
                done: true,
                done_time: Some(done.done_time),
                etag: String::new(),
            })
            .await
            .map_err(failed(format!("marking {:?} done", done.milestone)))?;
    }
    if goal.state == State::Draft as i32 {
        goal = clients
            .goals
            .activate_goal(pb::ActivateGoalRequest {
                name: goal.name.clone(),
                etag: String::new(),
            })
            .await
            .map_err(failed(format!("activating the goal {title:?}")))?
            .into_inner();
    }
    Ok((goal, created))
}

async fn create_goal(clients: &mut Clients, plan: &GoalPlan) -> Result<pb::Goal, DemoError> {
    let start = plan
        .goal
        .start_time
        .map(|start| start.to_string())
        .unwrap_or_default();
    Ok(clients
        .goals
        .create_goal(pb::CreateGoalRequest {
            goal: Some(plan.goal.clone()),
            request_id: request_id(&["goal", &plan.goal.title, &start]),
        })
        .await
        .map_err(failed(format!("creating the goal {:?}", plan.goal.title)))?
        .into_inner())
}

async fn get_goal(clients: &mut Clients, name: &str) -> Result<pb::Goal, DemoError> {
    Ok(clients
        .goals
        .get_goal(pb::GetGoalRequest {
            name: name.to_owned(),
        })
        .await
        .map_err(failed(format!("reading the goal {name}")))?
        .into_inner())
}

/// The goal's progress now.
pub async fn progress(clients: &mut Clients, goal: &str) -> Result<pb::GoalProgress, DemoError> {
    Ok(clients
        .progress
        .get_goal_progress(pb::GetGoalProgressRequest {
            goal: goal.to_owned(),
            as_of: None,
        })
        .await
        .map_err(failed(format!("reading the progress of {goal}")))?
        .into_inner())
}

/// Whether WatchGoalProgress answers for these goals, so the guide suggests
/// it only where it works: opens a watch, waits for the first message, and
/// cancels it by dropping the stream.
pub async fn watch_answers(clients: &mut Clients, goals: &[String]) -> bool {
    let request = pb::WatchGoalProgressRequest {
        goals: goals.to_vec(),
    };
    let first = async {
        let mut stream = clients
            .progress
            .watch_goal_progress(request)
            .await
            .ok()?
            .into_inner();
        stream.message().await.ok().flatten()
    };
    matches!(tokio::time::timeout(WATCH_PROBE, first).await, Ok(Some(_)))
}
