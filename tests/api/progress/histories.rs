//! Key results over some or every account at midnights (a history's steps,
//! whose windows count values stamped exactly then) and at mid-day moments,
//! where each account's latest value is its own, from before the moment.

use goalpost::pb;
use goalpost::pb::account::Network;
use goalpost::pb::goal::Framework;

use super::{
    activate, add_key_result, assert_close, at, create_goal, goal, metric_key_result, observe,
    progress_client,
};
use crate::helpers::{TestApp, spawn_app};

/// Accounts `a` and `b` observing `metric` daily from Mar 1 to Mar 25, `a`
/// at `a_time` (a time of day) with `a_base + d` on day `d` (0 = Mar 1), `b`
/// at `b_time` with `b_base + d` until Mar 11, then stopping.
async fn two_accounts_in_march(
    app: &TestApp,
    metric: &str,
    (a_time, a_base): (&str, f64),
    (b_time, b_base): (&str, f64),
) -> (String, String) {
    let a = app.create_account(Network::X, "a").await.name;
    let b = app.create_account(Network::X, "b").await.name;
    let times: Vec<(String, String)> = (1..=25)
        .map(|day| {
            (
                format!("2026-03-{day:02}T{a_time}Z"),
                format!("2026-03-{day:02}T{b_time}Z"),
            )
        })
        .collect();
    let mut rows: Vec<(&str, &str, &str, f64)> = Vec::new();
    for (index, (a_at, b_at)) in times.iter().enumerate() {
        rows.push((metric, &a, a_at, a_base + index as f64));
        if index <= 10 {
            rows.push((metric, &b, b_at, b_base + index as f64));
        }
    }
    observe(app, &rows).await;
    (a, b)
}

/// The daily history from Mar 1 to Mar 28 of an active SMART goal (Mar 1 to
/// Jun 1) whose one key result is `key_result`, as each step's key result
/// score.
async fn march_scores(app: &TestApp, title: &str, key_result: pb::KeyResult) -> Vec<Option<f64>> {
    let smart = create_goal(
        app,
        goal(
            title,
            Framework::Smart,
            "2026-03-01T00:00:00Z",
            "2026-06-01T00:00:00Z",
        ),
    )
    .await;
    add_key_result(app, &smart, key_result).await;
    activate(app, &smart).await;
    let history = progress_client(app)
        .get_progress_history(pb::GetProgressHistoryRequest {
            goal: smart.name.clone(),
            start: Some(at("2026-03-01T00:00:00Z")),
            end: Some(at("2026-03-28T00:00:00Z")),
            interval: pb::Interval::Day as i32,
        })
        .await
        .expect("history")
        .into_inner();
    assert_eq!(history.steps.len(), 28);
    history
        .steps
        .iter()
        .map(|step| step.key_results[0].score)
        .collect()
}

/// LAST of followers over accounts `a` and `b` in a 3-day window, from 0
/// to 1000.
fn followers_of(a: &str, b: &str) -> pb::KeyResult {
    pb::KeyResult {
        baseline_value: Some(0.0),
        target_value: Some(1000.0),
        ..metric_key_result("followers", &[a, b], 3)
    }
}

/// Asserts each step's score against `expected(step)`.
fn assert_scores(scores: &[Option<f64>], expected: impl Fn(usize) -> Option<f64>) {
    for (k, score) in scores.iter().enumerate() {
        match (*score, expected(k)) {
            (None, None) => {}
            (Some(score), Some(expected)) => {
                assert_close(score, expected, &format!("step {k}"));
            }
            (got, want) => panic!("step {k}: score {got:?}, expected {want:?}"),
        }
    }
}

#[tokio::test]
async fn a_history_of_last_over_some_accounts_keeps_each_accounts_latest_value() {
    // Account a reports daily at 13:00; b at 05:00 until Mar 11, then stops.
    // At a midnight T the 3-day window (T − 3 d, T] holds days T − 3 d to
    // T − 1 d, so b's last value stays in it until it sits in the window's
    // first day alone, read from raw rows.
    let app = spawn_app().await;
    let (a, b) =
        two_accounts_in_march(&app, "followers", ("13:00:00", 100.0), ("05:00:00", 300.0)).await;
    let scores = march_scores(&app, "Followers of two accounts", followers_of(&a, &b)).await;
    assert_scores(&scores, |k| {
        // Day indices (0 = Mar 1) inside the window ending at step k.
        let days = k.saturating_sub(3)..k;
        let a_latest = days.clone().rfind(|day| *day <= 24);
        let b_latest = days.clone().rfind(|day| *day <= 10);
        let current = match (a_latest, b_latest) {
            (None, None) => None,
            (a, b) => Some(
                a.map_or(0.0, |day| 100.0 + day as f64) + b.map_or(0.0, |day| 300.0 + day as f64),
            ),
        };
        current.map(|value| value / 1000.0)
    });
}

#[tokio::test]
async fn a_history_of_a_sum_over_every_account_counts_values_stamped_at_its_steps() {
    // Account a's likes at 13:00, b's exactly at midnight until Mar 11: a
    // step at a midnight T counts b's value stamped T and not the one
    // stamped T − 3 d, so every step reads raw rows at both ends.
    let app = spawn_app().await;
    two_accounts_in_march(&app, "likes", ("13:00:00", 10.0), ("00:00:00", 1.0)).await;
    let scores = march_scores(
        &app,
        "Grow likes across every account",
        pb::KeyResult {
            baseline_value: Some(0.0),
            target_value: Some(1000.0),
            ..metric_key_result("likes", &[], 3)
        },
    )
    .await;
    assert_scores(&scores, |k| {
        // a's values of days k − 3 to k − 1, b's stamped at the midnights
        // of days k − 2 to k (0 = Mar 1).
        let a_values = (k.saturating_sub(3)..k)
            .filter(|day| *day <= 24)
            .map(|day| 10.0 + day as f64);
        let b_values = (k.saturating_sub(2)..=k)
            .filter(|day| *day <= 10)
            .map(|day| 1.0 + day as f64);
        let values: Vec<f64> = a_values.chain(b_values).collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / 1000.0)
    });
}

/// Accounts `a` and `b` with the followers `stamped(a, b)` lists as
/// (account, time, value) observed.
async fn two_accounts_of_followers(
    app: &TestApp,
    stamped: impl for<'n> Fn(&'n str, &'n str) -> Vec<(&'n str, String, f64)>,
) -> (String, String) {
    let a = app.create_account(Network::X, "a").await.name;
    let b = app.create_account(Network::X, "b").await.name;
    let stamped = stamped(&a, &b);
    let rows: Vec<(&str, &str, &str, f64)> = stamped
        .iter()
        .map(|(account, time, value)| ("followers", *account, time.as_str(), *value))
        .collect();
    observe(app, &rows).await;
    (a, b)
}

#[tokio::test]
async fn a_history_of_last_counts_a_value_stamped_at_its_step_before_later_ones_that_day() {
    // Account a reports at 13:00 daily; b twice a day until Mar 11, at
    // midnight (300 + d) and at noon (500 + d). A step at a midnight T
    // takes b's value stamped exactly T although b's day T holds a newer
    // one: that day's rollup cannot tell it, so such steps are probed while
    // the others are read from the days.
    let app = spawn_app().await;
    let (a, b) = two_accounts_of_followers(&app, |a, b| {
        let mut stamped = Vec::new();
        for day in 0..25usize {
            let date = format!("2026-03-{:02}", day + 1);
            stamped.push((a, format!("{date}T13:00:00Z"), 100.0 + day as f64));
            if day <= 10 {
                stamped.push((b, format!("{date}T00:00:00Z"), 300.0 + day as f64));
                stamped.push((b, format!("{date}T12:00:00Z"), 500.0 + day as f64));
            }
        }
        stamped
    })
    .await;
    let scores = march_scores(&app, "Followers counted at midnight", followers_of(&a, &b)).await;
    assert_scores(&scores, |k| {
        // Step k (0 = Mar 1) ends at day k's midnight: (day k − 3, day k].
        let a_latest = (k.saturating_sub(3)..k)
            .rfind(|day| *day <= 24)
            .map(|day| 100.0 + day as f64);
        let b_latest = if k <= 10 {
            Some(300.0 + k as f64)
        } else {
            (k.saturating_sub(3)..k)
                .rfind(|day| *day <= 10)
                .map(|day| 500.0 + day as f64)
        };
        match (a_latest, b_latest) {
            (None, None) => None,
            (a, b) => Some((a.unwrap_or(0.0) + b.unwrap_or(0.0)) / 1000.0),
        }
    });
}

#[tokio::test]
async fn last_over_some_accounts_at_mid_day_moments_takes_each_accounts_value_before_the_moment() {
    // Account a reports at 06:00 and 18:00 daily, b at 12:00. At 09:00 a's
    // day holds a value after the moment, which its rollup cannot tell
    // apart, so the day is read up to the moment; at 20:00 every value of
    // the day counts.
    let app = spawn_app().await;
    let (a, b) = two_accounts_of_followers(&app, |a, b| {
        let mut stamped = Vec::new();
        for day in 1..=12usize {
            let date = format!("2026-03-{day:02}");
            stamped.push((a, format!("{date}T06:00:00Z"), 100.0 + day as f64));
            stamped.push((a, format!("{date}T18:00:00Z"), 200.0 + day as f64));
            stamped.push((b, format!("{date}T12:00:00Z"), 300.0 + day as f64));
        }
        stamped
    })
    .await;
    let smart = create_goal(
        &app,
        goal(
            "Followers at mid-day",
            Framework::Smart,
            "2026-03-01T00:00:00Z",
            "2026-06-01T00:00:00Z",
        ),
    )
    .await;
    add_key_result(&app, &smart, followers_of(&a, &b)).await;
    activate(&app, &smart).await;
    for (as_of, expected) in [
        // a's 06:00 value of Mar 10, b's noon value of Mar 9.
        ("2026-03-10T09:00:00Z", 110.0 + 309.0),
        // a's 18:00 value and b's noon value of Mar 10.
        ("2026-03-10T20:00:00Z", 210.0 + 310.0),
        // Exactly at a's 18:00 observation: it counts.
        ("2026-03-10T18:00:00Z", 210.0 + 310.0),
        // Mar 15: only Mar 12's values are left in (Mar 12 09:00, Mar 15 09:00].
        ("2026-03-15T09:00:00Z", 212.0 + 312.0),
    ] {
        let progress = super::progress_at(&app, &smart, as_of).await;
        let current = progress.key_results[0].current.expect("a value");
        assert_close(current, expected, as_of);
    }
}
