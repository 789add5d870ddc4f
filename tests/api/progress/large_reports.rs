//! A report large enough to be evaluated over several connections sharing
//! one snapshot: every row equals the single answer for its goal, in order,
//! and a write racing the report lands wholly in it or wholly outside.

use goalpost::pb;
use goalpost::pb::goal::Framework;

use super::{
    activate, add_key_result, at, create_goal, goal, metric_key_result, observe, progress_at,
    progress_client,
};
use crate::helpers::{TestApp, spawn_app};

/// Goals of one key result each over the organisation-wide followers, with
/// targets spread so their statuses differ.
async fn spread_goals(app: &TestApp, count: usize) -> Vec<pb::Goal> {
    let mut goals = Vec::with_capacity(count);
    for index in 0..count {
        let smart = create_goal(
            app,
            goal(
                &format!("Grow followers, variant {index}"),
                Framework::Smart,
                "2026-03-01T00:00:00Z",
                "2026-04-01T00:00:00Z",
            ),
        )
        .await;
        add_key_result(
            app,
            &smart,
            pb::KeyResult {
                baseline_value: Some(1000.0),
                target_value: Some(1100.0 + 40.0 * index as f64),
                ..metric_key_result("followers", &[""], 7)
            },
        )
        .await;
        activate(app, &smart).await;
        goals.push(smart);
    }
    goals
}

async fn report(app: &TestApp, as_of: &str) -> pb::ListGoalProgressResponse {
    progress_client(app)
        .list_goal_progress(pb::ListGoalProgressRequest {
            page_size: 1000,
            as_of: Some(at(as_of)),
            ..Default::default()
        })
        .await
        .expect("a report")
        .into_inner()
}

#[tokio::test]
async fn a_large_report_equals_the_single_answers_in_order() {
    let app = spawn_app().await;
    let rows: Vec<(String, f64)> = (1..=20)
        .map(|day| {
            (
                format!("2026-03-{day:02}T12:00:00Z"),
                1000.0 + 20.0 * day as f64,
            )
        })
        .collect();
    let rows: Vec<(&str, &str, &str, f64)> = rows
        .iter()
        .map(|(time, value)| ("followers", "", time.as_str(), *value))
        .collect();
    observe(&app, &rows).await;
    let goals = spread_goals(&app, 40).await;
    let as_of = "2026-03-20T18:00:00Z";
    let listed = report(&app, as_of).await;
    assert_eq!(listed.goal_progress.len(), goals.len());
    for (goal, row) in goals.iter().zip(&listed.goal_progress) {
        assert_eq!(*row, progress_at(&app, goal, as_of).await, "{}", goal.name);
    }
    let statuses: std::collections::HashSet<i32> =
        listed.goal_progress.iter().map(|row| row.status).collect();
    assert!(statuses.len() > 1, "the targets spread the statuses");
}

/// Key results over every account of one metric and window share their raw
/// edges: a report reads each once and hands it to every goal, across its
/// batches and readers, and every row still equals the single answer.
#[tokio::test]
async fn a_large_report_of_sums_over_every_account_equals_the_single_answers() {
    let app = spawn_app().await;
    let first = app.create_account(pb::account::Network::X, "first").await;
    let second = app.create_account(pb::account::Network::X, "second").await;
    let mut rows: Vec<(String, String, f64)> = Vec::new();
    for day in 1..=20 {
        for (account, hour, value) in [(&first.name, 6, 1.0), (&second.name, 15, 2.0)] {
            rows.push((
                account.clone(),
                format!("2026-03-{day:02}T{hour:02}:00:00Z"),
                value * day as f64,
            ));
        }
    }
    let rows: Vec<(&str, &str, &str, f64)> = rows
        .iter()
        .map(|(account, time, value)| ("likes", account.as_str(), time.as_str(), *value))
        .collect();
    observe(&app, &rows).await;
    let mut goals = Vec::new();
    for index in 0..40 {
        let okr = create_goal(
            &app,
            goal(
                &format!("Be liked, variant {index}"),
                Framework::Okr,
                "2026-03-01T00:00:00Z",
                "2026-04-01T00:00:00Z",
            ),
        )
        .await;
        add_key_result(
            &app,
            &okr,
            pb::KeyResult {
                baseline_value: Some(0.0),
                target_value: Some(100.0 + 10.0 * index as f64),
                ..metric_key_result("likes", &[], 7)
            },
        )
        .await;
        activate(&app, &okr).await;
        goals.push(okr);
    }
    // (Mar 13 12:00, Mar 20 12:00]: the 15:00 value of the 13th, whole days
    // 14 to 19, and the 06:00 value of the 20th.
    let as_of = "2026-03-20T12:00:00Z";
    let expected: f64 = 2.0 * 13.0 + (14..=19).map(|day| 3.0 * day as f64).sum::<f64>() + 20.0;
    let listed = report(&app, as_of).await;
    assert_eq!(listed.goal_progress.len(), goals.len());
    for (goal, row) in goals.iter().zip(&listed.goal_progress) {
        assert_eq!(row.key_results[0].current, Some(expected), "{}", goal.name);
        assert_eq!(*row, progress_at(&app, goal, as_of).await, "{}", goal.name);
    }
}

#[tokio::test]
async fn a_write_racing_a_large_report_is_wholly_in_it_or_wholly_out() {
    let app = spawn_app().await;
    observe(&app, &[("followers", "", "2026-03-14T12:00:00Z", 1200.0)]).await;
    spread_goals(&app, 40).await;
    let as_of = "2026-03-20T18:00:00Z";
    let writer = {
        let app_channel = app.channel.clone();
        tokio::spawn(async move {
            let mut client =
                goalpost::pb::metric_service_client::MetricServiceClient::new(app_channel);
            client
                .write_observations(pb::WriteObservationsRequest {
                    observations: vec![pb::Observation {
                        metric_key: "followers".into(),
                        account: String::new(),
                        observed_at: Some(at("2026-03-15T12:00:00Z")),
                        value: 1900.0,
                        source: "test".into(),
                        recorded_at: None,
                        recorded_by: String::new(),
                    }],
                })
                .await
                .expect("the racing write")
        })
    };
    let listed = report(&app, as_of).await;
    writer.await.unwrap();
    // Every row read the same followers value: all before the write or all after.
    let currents: std::collections::HashSet<u64> = listed
        .goal_progress
        .iter()
        .map(|row| row.key_results[0].current.expect("a value").to_bits())
        .collect();
    assert_eq!(currents.len(), 1, "rows saw different data: {currents:?}");
}

#[tokio::test]
async fn concurrent_large_reports_leave_connections_for_other_calls() {
    // A small pool: reports borrowing extra readers must not take it all.
    let app = crate::helpers::spawn_app_with(|settings| settings.db_max_connections = 4).await;
    observe(&app, &[("followers", "", "2026-03-14T12:00:00Z", 1200.0)]).await;
    let goals = spread_goals(&app, 20).await;
    let as_of = "2026-03-20T18:00:00Z";
    let reports: Vec<_> = (0..6)
        .map(|_| {
            let mut client = progress_client(&app);
            tokio::spawn(async move {
                client
                    .list_goal_progress(pb::ListGoalProgressRequest {
                        page_size: 1000,
                        as_of: Some(at(as_of)),
                        ..Default::default()
                    })
                    .await
                    .map(|response| response.into_inner().goal_progress.len())
            })
        })
        .collect();
    let singles: Vec<_> = goals
        .iter()
        .map(|goal| {
            let mut client = progress_client(&app);
            let name = goal.name.clone();
            tokio::spawn(async move {
                client
                    .get_goal_progress(pb::GetGoalProgressRequest {
                        goal: name,
                        as_of: Some(at(as_of)),
                    })
                    .await
                    .map(|_| ())
            })
        })
        .collect();
    for report in reports {
        assert_eq!(report.await.unwrap().expect("a report"), goals.len());
    }
    for single in singles {
        single
            .await
            .unwrap()
            .expect("a single answer beside the reports");
    }
}
