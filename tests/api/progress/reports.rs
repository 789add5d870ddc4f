//! Reports, histories, checks and bad input of ProgressService.

use goalpost::pb;
use goalpost::pb::goal::Framework;
use tonic::Code;

use super::{
    activate, add_key_result, assert_close, assert_some_close, at, create_goal, goal,
    metric_key_result, observe, progress_at, progress_client, status_of,
};
use crate::helpers::{TestApp, assert_error, assert_violations, spawn_app};

/// A goal on followers (LAST, org-wide, 7-day window) from 1000 to 2000,
/// January to July 2026, with followers growing by 10 a day in March
/// (observed at midnight: 1100 on Mar 1 to 1400 on Mar 31).
async fn followers_goal(app: &TestApp, title: &str) -> pb::Goal {
    let smart = create_goal(
        app,
        goal(
            title,
            Framework::Smart,
            "2026-01-01T00:00:00Z",
            "2026-07-01T00:00:00Z",
        ),
    )
    .await;
    add_key_result(
        app,
        &smart,
        pb::KeyResult {
            baseline_value: Some(1000.0),
            target_value: Some(2000.0),
            ..metric_key_result("followers", &[""], 7)
        },
    )
    .await;
    activate(app, &smart).await;
    smart
}

async fn observe_march_followers(app: &TestApp) {
    let days: Vec<String> = (1..=31)
        .map(|day| format!("2026-03-{day:02}T00:00:00Z"))
        .collect();
    let rows: Vec<(&str, &str, &str, f64)> = days
        .iter()
        .enumerate()
        .map(|(index, time)| ("followers", "", time.as_str(), 1100.0 + 10.0 * index as f64))
        .collect();
    observe(app, &rows).await;
}

#[tokio::test]
async fn progress_follows_the_moment_and_forecasts_the_trend() {
    let app = spawn_app().await;
    observe_march_followers(&app).await;
    let smart = followers_goal(&app, "Grow our follower base").await;

    // Mar 31 midnight: an observation stamped exactly then counts.
    let progress = progress_at(&app, &smart, "2026-03-31T00:00:00Z").await;
    let key_result = &progress.key_results[0];
    assert_some_close(key_result.current, 1400.0, "current");
    assert_some_close(key_result.progress, 0.4, "progress");
    // A second earlier it is not yet observed.
    let before = progress_at(&app, &smart, "2026-03-30T23:59:59Z").await;
    assert_some_close(before.key_results[0].current, 1390.0, "a second before");
    // A day's value is its window as the day ends. Asked at the last
    // instant of Mar 31 (value 1400), the samples at the boundaries of the
    // last 28 days lie on 1080 + 10 × d, d counting days from Mar 0: the
    // line passes the deadline, Jul 1 (d = 123), at 2310, and reaches 2000
    // at d = 92, May 31.
    let closing = progress_at(&app, &smart, "2026-03-31T23:59:59.999999Z").await;
    let forecast = closing.key_results[0]
        .forecast
        .as_ref()
        .expect("a forecast");
    assert_close(forecast.projected_value, 2310.0, "projected value");
    assert_some_close(forecast.projected_score, 1.0, "projected score");
    let completion = forecast.completion_time.expect("a completion time");
    let expected = at("2026-05-31T00:00:00Z");
    assert!(
        (completion.seconds - expected.seconds).abs() <= 1,
        "completion {completion:?}, expected {expected:?}"
    );

    // Before any observation: no data, never a silent 0.
    let empty = progress_at(&app, &smart, "2026-02-01T00:00:00Z").await;
    assert_eq!(empty.key_results[0].current, None);
    assert_eq!(empty.key_results[0].score, None);
    assert_eq!(status_of(empty.status), pb::ProgressStatus::NoData);
    assert!(!empty.complete);
    assert_close(empty.score, 0.0, "no data scores 0 in the goal");
}

#[tokio::test]
async fn a_history_steps_daily_and_matches_single_answers() {
    let app = spawn_app().await;
    observe_march_followers(&app).await;
    let smart = followers_goal(&app, "Grow our follower base").await;
    let history = progress_client(&app)
        .get_progress_history(pb::GetProgressHistoryRequest {
            goal: smart.name.clone(),
            start: Some(at("2026-02-28T00:00:00Z")),
            end: Some(at("2026-03-31T12:00:00Z")),
            interval: pb::Interval::Day as i32,
        })
        .await
        .expect("history")
        .into_inner();
    // Feb 28 to Mar 31 midnights, plus the end itself.
    assert_eq!(history.steps.len(), 33);
    assert_eq!(history.steps[0].time, Some(at("2026-02-28T00:00:00Z")));
    assert_eq!(history.steps[32].time, Some(at("2026-03-31T12:00:00Z")));
    assert_eq!(
        history.steps[0].key_results[0].score, None,
        "nothing observed yet"
    );
    assert_some_close(
        history.steps[1].key_results[0].score,
        0.1,
        "Mar 1 counts 1100",
    );
    for step in [5usize, 17, 32] {
        let time = history.steps[step].time.unwrap();
        let single = progress_client(&app)
            .get_goal_progress(pb::GetGoalProgressRequest {
                goal: smart.name.clone(),
                as_of: Some(time),
            })
            .await
            .unwrap()
            .into_inner();
        assert_close(history.steps[step].score, single.score, "score");
        assert_close(history.steps[step].expected, single.expected, "expected");
        assert_eq!(
            history.steps[step].key_results[0].score,
            single.key_results[0].score
        );
    }
}

#[tokio::test]
async fn a_report_counts_goals_per_status_on_every_page() {
    let app = spawn_app().await;
    observe_march_followers(&app).await;
    let mut names = Vec::new();
    for title in [
        "Grow followers one",
        "Grow followers two",
        "Grow followers three",
    ] {
        names.push(followers_goal(&app, title).await.name);
    }
    // A draft without data.
    create_goal(
        &app,
        goal(
            "Draft goal here",
            Framework::Okr,
            "2026-01-01T00:00:00Z",
            "2026-07-01T00:00:00Z",
        ),
    )
    .await;

    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = progress_client(&app)
            .list_goal_progress(pb::ListGoalProgressRequest {
                page_size: 2,
                page_token: token.clone(),
                filter: "framework = SMART".into(),
                as_of: if token.is_empty() {
                    Some(at("2026-03-31T12:00:00Z"))
                } else {
                    None
                },
            })
            .await
            .expect("a report page")
            .into_inner();
        let counts: Vec<(i32, i32)> = page
            .status_counts
            .iter()
            .map(|count| (count.status, count.count))
            .collect();
        // Progress 0.4 against 89.5/181 expected: 0.4 < 0.9 × 0.4945 but
        // ≥ 0.6 × it, so AT_RISK, for all three.
        assert_eq!(
            counts,
            [(1, 0), (2, 0), (3, 3), (4, 0), (5, 0), (6, 0)],
            "the same counts on every page"
        );
        for row in &page.goal_progress {
            assert_eq!(
                row.as_of,
                Some(at("2026-03-31T12:00:00Z")),
                "one moment for the report"
            );
            seen.push(row.goal.clone());
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, names);
}

#[tokio::test]
async fn check_goal_reports_each_check_and_achievability() {
    let app = spawn_app().await;
    // A year of history before the start: followers rising 5 a day.
    let days: Vec<String> = (0..200)
        .map(|day| {
            (chrono::DateTime::parse_from_rfc3339("2025-06-01T12:00:00Z").unwrap()
                + chrono::TimeDelta::days(day))
            .to_rfc3339()
        })
        .collect();
    let rows: Vec<(&str, &str, &str, f64)> = days
        .iter()
        .enumerate()
        .map(|(index, time)| ("followers", "", time.as_str(), 100.0 + 5.0 * index as f64))
        .collect();
    observe(&app, &rows).await;
    let smart = followers_goal(&app, "Grow our follower base").await;
    let checked = progress_client(&app)
        .check_goal(pb::CheckGoalRequest {
            goal: smart.name.clone(),
            as_of: Some(at("2026-01-01T00:00:00Z")),
        })
        .await
        .expect("check the goal")
        .into_inner();
    assert!(checked.passed);
    let names: Vec<&str> = checked
        .checks
        .iter()
        .map(|check| check.check.as_str())
        .collect();
    assert_eq!(names, ["SPECIFIC", "MEASURABLE", "RELEVANT", "TIME_BOUND"]);
    assert!(checked.checks.iter().all(|check| !check.message.is_empty()));
    let judged = &checked.achievability[0];
    // The 7-day window ending at the start, (Dec 25, Jan 1], is empty (the
    // last value came on Dec 17), so the slope is needed from the baseline:
    // 1000 → 2000 in 181 days is 5.525 a day, against a best 28-day trend
    // of 5 a day: STRETCH.
    assert_some_close(judged.required_slope, 1000.0 / 181.0, "required slope");
    assert_some_close(judged.best_historical_slope, 5.0, "best trend");
    assert_eq!(
        pb::Achievability::try_from(judged.verdict),
        Ok(pb::Achievability::Stretch)
    );
}

#[tokio::test]
async fn bad_progress_requests_are_invalid_or_not_found() {
    let app = spawn_app().await;
    let smart = followers_goal(&app, "Grow our follower base").await;
    let mut client = progress_client(&app);
    let future = chrono::Utc::now() + chrono::TimeDelta::hours(1);
    let status = client
        .get_goal_progress(pb::GetGoalProgressRequest {
            goal: smart.name.clone(),
            as_of: Some(prost_types::Timestamp {
                seconds: future.timestamp(),
                nanos: 0,
            }),
        })
        .await
        .unwrap_err();
    assert_violations(&status, &["as_of"]);
    let status = client
        .get_goal_progress(pb::GetGoalProgressRequest {
            goal: "goals/not-a-uuid".into(),
            as_of: None,
        })
        .await
        .unwrap_err();
    assert_violations(&status, &["goal"]);
    let status = client
        .get_goal_progress(pb::GetGoalProgressRequest {
            goal: "goals/01890a5d-ac96-774b-bcce-b302099a8057".into(),
            as_of: None,
        })
        .await
        .unwrap_err();
    assert_error(&status, Code::NotFound, "GOAL_NOT_FOUND");
    // A draft without a deadline has no time frame, so no progress.
    let draft = create_goal(
        &app,
        pb::Goal {
            deadline: None,
            ..goal(
                "Undated draft goal",
                Framework::Okr,
                "2026-01-01T00:00:00Z",
                "2026-07-01T00:00:00Z",
            )
        },
    )
    .await;
    let status = client
        .get_goal_progress(pb::GetGoalProgressRequest {
            goal: draft.name.clone(),
            as_of: None,
        })
        .await
        .unwrap_err();
    assert_eq!(crate::helpers::precondition_types(&status), ["TIME_BOUND"]);
    let report = client
        .list_goal_progress(pb::ListGoalProgressRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        report.goal_progress.len(),
        1,
        "the undated draft is left out"
    );
    // Before the goal was created (and before any data): fine, NO_DATA.
    let early = progress_at(&app, &smart, "2020-01-01T00:00:00Z").await;
    assert_eq!(status_of(early.status), pb::ProgressStatus::NoData);
    let status = client
        .get_progress_history(pb::GetProgressHistoryRequest {
            goal: smart.name.clone(),
            start: Some(at("2026-03-02T00:00:00Z")),
            end: Some(at("2026-03-01T00:00:00Z")),
            interval: pb::Interval::Day as i32,
        })
        .await
        .unwrap_err();
    assert_violations(&status, &["end"]);
    let status = client
        .get_progress_history(pb::GetProgressHistoryRequest {
            goal: smart.name.clone(),
            start: Some(at("2000-01-01T00:00:00Z")),
            end: Some(at("2026-03-01T00:00:00Z")),
            interval: pb::Interval::Hour as i32,
        })
        .await
        .unwrap_err();
    assert_violations(&status, &["interval"]);
}

#[tokio::test]
async fn closing_a_goal_records_its_final_result() {
    let app = spawn_app().await;
    let smart = followers_goal(&app, "Grow our follower base").await;
    let an_hour_ago = (chrono::Utc::now() - chrono::TimeDelta::hours(1)).to_rfc3339();
    observe(&app, &[("followers", "", an_hour_ago.as_str(), 1500.0)]).await;
    let closed = super::goal_client(&app)
        .close_goal(pb::CloseGoalRequest {
            name: smart.name.clone(),
            etag: String::new(),
        })
        .await
        .expect("close the goal")
        .into_inner();
    let closing = closed.closing.expect("the final result");
    // 1500 of 1000 → 2000 scores 0.5, past the deadline of a SMART goal.
    assert_close(closing.score, 0.5, "final score");
    assert_eq!(status_of(closing.status), pb::ProgressStatus::Missed);
    assert_eq!(pb::Grade::try_from(closing.grade), Ok(pb::Grade::Yellow));
    assert!(closing.close_time.is_some());
    // Later observations do not change what was recorded.
    observe(&app, &[("followers", "", an_hour_ago.as_str(), 2500.0)]).await;
    let again = super::goal_client(&app)
        .get_goal(pb::GetGoalRequest {
            name: smart.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.closing, Some(closing));
}
