//! The seed scenarios and DESIGN §2's two worked examples, to the digit.

use goalpost::pb;
use goalpost::pb::goal::Framework;
use goalpost::pb::key_result::TargetMode;
use goalpost::pb::metric_definition::{Aggregation, Better};

use super::{
    activate, add_key_result, assert_close, assert_some_close, create_goal, goal, mark_done,
    metric_key_result, milestone_key_result, observe, progress_at, status_of,
};
use crate::helpers::spawn_app;
use crate::metrics::{base_metric, create_metric};

/// DESIGN §2, example A: a SMART decrease. Start Jan 1, deadline Jul 1
/// (181 days), T = Apr 1 (day 90); baseline 50, target −20 % = 40, current
/// 45: progress 0.5, expected 90/181, ON_TRACK.
#[tokio::test]
async fn worked_example_a_smart_decrease_is_on_track() {
    let app = spawn_app().await;
    create_metric(
        &app,
        pb::MetricDefinition {
            better: Better::Lower as i32,
            ..base_metric("water_use", Aggregation::Last)
        },
    )
    .await;
    observe(&app, &[("water_use", "", "2026-03-30T08:00:00Z", 45.0)]).await;
    let smart = create_goal(
        &app,
        goal(
            "Save water at strategic suppliers",
            Framework::Smart,
            "2026-01-01T00:00:00Z",
            "2026-07-01T00:00:00Z",
        ),
    )
    .await;
    add_key_result(
        &app,
        &smart,
        pb::KeyResult {
            baseline_value: Some(50.0),
            target_change_percent: Some(-20.0),
            ..metric_key_result("water_use", &[""], 7)
        },
    )
    .await;
    activate(&app, &smart).await;

    let progress = progress_at(&app, &smart, "2026-04-01T00:00:00Z").await;
    let key_result = &progress.key_results[0];
    assert_some_close(key_result.baseline, 50.0, "baseline");
    assert_some_close(key_result.target, 40.0, "target");
    assert_some_close(key_result.current, 45.0, "current");
    assert_some_close(key_result.progress, 0.5, "progress");
    assert_some_close(key_result.score, 0.5, "score");
    assert_close(key_result.expected, 90.0 / 181.0, "expected");
    assert_eq!(status_of(key_result.status), pb::ProgressStatus::OnTrack);
    assert_close(progress.score, 0.5, "goal score");
    assert_close(progress.expected, 90.0 / 181.0, "goal expected");
    assert_eq!(format!("{:.5}", progress.expected), "0.49724");
    assert_eq!(status_of(progress.status), pb::ProgressStatus::OnTrack);
    assert!(progress.complete);
    assert_eq!(
        key_result.last_observation_time,
        Some(super::at("2026-03-30T08:00:00Z"))
    );
}

/// DESIGN §2, example B: an OKR of three equally weighted key results at
/// day 90 of 180 (expected 0.5, s = 0.7, r = 0.35): followers 1000 → 2000
/// at 1700 scores 0.7; two of three milestones 0.6667; cost_per_click AT_MOST
/// 0.5 from 0.8 at 0.55 has progress 0.8333 but scores 0. Goal 0.45556,
/// YELLOW, ON_TRACK.
#[tokio::test]
async fn worked_example_b_okr_is_yellow_and_on_track() {
    let app = spawn_app().await;
    observe(
        &app,
        &[
            ("followers", "", "2026-03-31T10:00:00Z", 1700.0),
            ("ad_spend", "", "2026-03-30T10:00:00Z", 55.0),
            ("clicks", "", "2026-03-30T10:00:00Z", 100.0),
        ],
    )
    .await;
    let okr = create_goal(
        &app,
        goal(
            "Win the audience",
            Framework::Okr,
            "2026-01-01T00:00:00Z",
            "2026-06-30T00:00:00Z",
        ),
    )
    .await;
    add_key_result(
        &app,
        &okr,
        pb::KeyResult {
            baseline_value: Some(1000.0),
            target_value: Some(2000.0),
            ..metric_key_result("followers", &[""], 7)
        },
    )
    .await;
    let steps = add_key_result(
        &app,
        &okr,
        milestone_key_result(&["personas", "policy", "crisis plan"]),
    )
    .await;
    mark_done(&app, &steps, 0, "2026-02-01T00:00:00Z").await;
    mark_done(&app, &steps, 1, "2026-03-15T00:00:00Z").await;
    add_key_result(
        &app,
        &okr,
        pb::KeyResult {
            target_mode: TargetMode::AtMost as i32,
            baseline_value: Some(0.8),
            target_value: Some(0.5),
            ..metric_key_result("cost_per_click", &[""], 7)
        },
    )
    .await;
    activate(&app, &okr).await;

    let progress = progress_at(&app, &okr, "2026-04-01T00:00:00Z").await;
    assert_close(progress.expected, 0.5, "expected");
    let [followers, milestones, cost] = &progress.key_results[..] else {
        panic!("three key results");
    };
    assert_some_close(followers.score, 0.7, "followers score");
    assert_eq!(status_of(followers.status), pb::ProgressStatus::OnTrack);
    assert_some_close(milestones.score, 2.0 / 3.0, "milestone score");
    assert_some_close(milestones.current, 2.0, "milestones done");
    assert_some_close(milestones.target, 3.0, "milestones");
    assert_some_close(cost.current, 0.55, "cost per click");
    assert_some_close(cost.progress, 0.25 / 0.3, "cost progress");
    assert_eq!(format!("{:.4}", cost.progress.unwrap()), "0.8333");
    assert_some_close(cost.score, 0.0, "cost score");
    assert_eq!(status_of(cost.status), pb::ProgressStatus::OffTrack);
    assert_close(progress.score, (0.7 + 2.0 / 3.0) / 3.0, "goal score");
    assert_eq!(format!("{:.5}", progress.score), "0.45556");
    assert_eq!(pb::Grade::try_from(progress.grade), Ok(pb::Grade::Yellow));
    assert_eq!(status_of(progress.status), pb::ProgressStatus::OnTrack);

    // Before the second milestone was done, only one counts.
    let earlier = progress_at(&app, &okr, "2026-03-14T23:59:59Z").await;
    assert_some_close(earlier.key_results[1].score, 1.0 / 3.0, "one milestone");
}

/// A SMART goal cutting ad spend 20 % against the 2025 baseline year, over
/// a trailing 365-day window, exact at mid-day moments: an observation
/// stamped exactly T counts, one stamped exactly T − 365 days does not.
#[tokio::test]
async fn smart_goal_cutting_a_metric_against_a_baseline_year() {
    let app = spawn_app().await;
    let mut rows = Vec::new();
    let months = [
        "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12",
    ];
    let times: Vec<(String, String)> = months
        .iter()
        .map(|month| {
            (
                format!("2025-{month}-15T12:00:00Z"),
                format!("2026-{month}-15T12:00:00Z"),
            )
        })
        .collect();
    for (last_year, this_year) in &times {
        rows.push(("ad_spend", "", last_year.as_str(), 1000.0));
        if this_year.as_str() < "2026-07" {
            rows.push(("ad_spend", "", this_year.as_str(), 700.0));
        }
    }
    observe(&app, &rows).await;
    let smart = create_goal(
        &app,
        goal(
            "Cut paid social spend by a fifth",
            Framework::Smart,
            "2026-01-01T00:00:00Z",
            "2027-01-01T00:00:00Z",
        ),
    )
    .await;
    add_key_result(
        &app,
        &smart,
        pb::KeyResult {
            baseline_start: Some(super::at("2025-01-01T00:00:00Z")),
            baseline_end: Some(super::at("2025-12-31T23:59:59Z")),
            target_change_percent: Some(-20.0),
            ..metric_key_result("ad_spend", &[], 365)
        },
    )
    .await;
    activate(&app, &smart).await;

    // Baseline 12 × 1000 = 12000, target 9600. On Jul 1 the window
    // (2025-07-01, 2026-07-01] holds six months of 1000 and six of 700.
    let july = progress_at(&app, &smart, "2026-07-01T00:00:00Z").await;
    let key_result = &july.key_results[0];
    assert_some_close(key_result.baseline, 12000.0, "baseline");
    assert_some_close(key_result.target, 9600.0, "target");
    assert_some_close(key_result.current, 10200.0, "current");
    assert_some_close(key_result.progress, 0.75, "progress");
    assert_close(july.expected, 181.0 / 365.0, "expected");
    assert_eq!(status_of(july.status), pb::ProgressStatus::OnTrack);

    // At 2026-06-15T12:00 exactly: that day's 700 counts, 2025-06-15's 1000
    // (exactly 365 days earlier) does not.
    let at_noon = progress_at(&app, &smart, "2026-06-15T12:00:00Z").await;
    assert_some_close(at_noon.key_results[0].current, 10200.0, "at noon");
    // A second earlier, the reverse.
    let before_noon = progress_at(&app, &smart, "2026-06-15T11:59:59Z").await;
    assert_some_close(before_noon.key_results[0].current, 10500.0, "before noon");
    assert_some_close(
        before_noon.key_results[0].progress,
        0.625,
        "progress before noon",
    );
}

/// An OKR in the spirit of "a billion hours of watch time a day": daily
/// watch hours across three channels (weight 2), the kids channel's
/// engagement rate up 50 % on its level before the start, and a milestone
/// checklist for the VR catalogue.
#[tokio::test]
async fn watch_time_okr_is_graded_from_three_key_results() {
    let app = spawn_app().await;
    create_metric(&app, base_metric("watch_hours", Aggregation::Sum)).await;
    let main_app = app
        .create_account(pb::account::Network::Youtube, "main")
        .await
        .name;
    let search = app
        .create_account(pb::account::Network::Youtube, "search")
        .await
        .name;
    let kids = app
        .create_account(pb::account::Network::Youtube, "kids")
        .await
        .name;
    observe(
        &app,
        &[
            ("watch_hours", &main_app, "2026-03-31T09:00:00Z", 250e6),
            ("watch_hours", &search, "2026-03-31T11:00:00Z", 300e6),
            ("watch_hours", &kids, "2026-03-31T23:00:00Z", 150e6),
            // The day before does not count in a one-day window.
            ("watch_hours", &kids, "2026-03-30T23:00:00Z", 999e6),
            // Kids engagement before the start: (100 + 20 + 30) / 10000.
            ("likes", &kids, "2025-12-20T10:00:00Z", 100.0),
            ("comments", &kids, "2025-12-20T10:00:00Z", 20.0),
            ("shares", &kids, "2025-12-20T10:00:00Z", 30.0),
            ("followers", &kids, "2025-12-20T10:00:00Z", 10000.0),
            // And in the 30 days before T: (200 + 40 + 60) / 12000.
            ("likes", &kids, "2026-03-20T10:00:00Z", 200.0),
            ("comments", &kids, "2026-03-20T10:00:00Z", 40.0),
            ("shares", &kids, "2026-03-20T10:00:00Z", 60.0),
            ("followers", &kids, "2026-03-20T10:00:00Z", 12000.0),
        ],
    )
    .await;
    let okr = create_goal(
        &app,
        goal(
            "A billion hours of watch time a day",
            Framework::Okr,
            "2026-01-01T00:00:00Z",
            "2026-12-31T00:00:00Z",
        ),
    )
    .await;
    add_key_result(
        &app,
        &okr,
        pb::KeyResult {
            weight: Some(2.0),
            baseline_value: Some(400e6),
            target_value: Some(1e9),
            ..metric_key_result("watch_hours", &[&main_app, &search, &kids], 1)
        },
    )
    .await;
    add_key_result(
        &app,
        &okr,
        pb::KeyResult {
            target_change_percent: Some(50.0),
            ..metric_key_result("engagement_rate", &[&kids], 30)
        },
    )
    .await;
    let vr = add_key_result(
        &app,
        &okr,
        milestone_key_result(&["studio", "pilot", "catalogue", "launch"]),
    )
    .await;
    mark_done(&app, &vr, 0, "2026-02-10T00:00:00Z").await;
    activate(&app, &okr).await;

    let progress = progress_at(&app, &okr, "2026-04-01T00:00:00Z").await;
    let [hours, engagement, milestones] = &progress.key_results[..] else {
        panic!("three key results");
    };
    // (700M − 400M) / (1B − 400M).
    assert_some_close(hours.current, 700e6, "watch hours");
    assert_some_close(hours.score, 0.5, "watch hours score");
    // Baseline 1.5 %, target 2.25 %, current 2.5 %: progress 4/3, score 1.
    assert_some_close(engagement.baseline, 1.5, "engagement baseline");
    assert_some_close(engagement.target, 2.25, "engagement target");
    assert_some_close(engagement.current, 2.5, "engagement now");
    assert_some_close(engagement.progress, 4.0 / 3.0, "engagement progress");
    assert_some_close(engagement.score, 1.0, "engagement score");
    assert_some_close(milestones.score, 0.25, "milestones");
    // (2 × 0.5 + 1 + 0.25) / 4.
    assert_close(progress.score, 0.5625, "goal score");
    assert_eq!(pb::Grade::try_from(progress.grade), Ok(pb::Grade::Yellow));
    assert_close(progress.expected, 90.0 / 364.0, "expected");
    assert_eq!(status_of(progress.status), pb::ProgressStatus::OnTrack);
}

/// A reputation OKR: speak at three industry events (one done), reach out
/// to the top 100 users (40 so far, cumulative since the start), and cut
/// the response time 25 % on December's average.
#[tokio::test]
async fn reputation_okr_mixes_milestones_a_count_and_a_decrease() {
    let app = spawn_app().await;
    create_metric(&app, base_metric("outreach_contacts", Aggregation::Sum)).await;
    create_metric(
        &app,
        pb::MetricDefinition {
            better: Better::Lower as i32,
            ..base_metric("response_minutes", Aggregation::Avg)
        },
    )
    .await;
    observe(
        &app,
        &[
            ("response_minutes", "", "2025-12-05T10:00:00Z", 50.0),
            ("response_minutes", "", "2025-12-25T10:00:00Z", 70.0),
            ("response_minutes", "", "2026-03-10T10:00:00Z", 50.0),
            ("response_minutes", "", "2026-03-25T10:00:00Z", 52.0),
            // Before the start: not part of a cumulative window.
            ("outreach_contacts", "", "2025-12-31T23:59:59Z", 500.0),
            ("outreach_contacts", "", "2026-01-01T00:00:00Z", 15.0),
            ("outreach_contacts", "", "2026-02-14T12:00:00Z", 25.0),
        ],
    )
    .await;
    let okr = create_goal(
        &app,
        goal(
            "Be the trusted voice of the industry",
            Framework::Okr,
            "2026-01-01T00:00:00Z",
            "2026-07-01T00:00:00Z",
        ),
    )
    .await;
    let events = add_key_result(
        &app,
        &okr,
        milestone_key_result(&["SocialCon", "BrandSummit", "CX Days"]),
    )
    .await;
    mark_done(&app, &events, 1, "2026-03-02T00:00:00Z").await;
    add_key_result(
        &app,
        &okr,
        pb::KeyResult {
            target_value: Some(100.0),
            ..metric_key_result("outreach_contacts", &[""], 0)
        },
    )
    .await;
    add_key_result(
        &app,
        &okr,
        pb::KeyResult {
            baseline_start: Some(super::at("2025-12-01T00:00:00Z")),
            baseline_end: Some(super::at("2025-12-31T23:59:59Z")),
            target_change_percent: Some(-25.0),
            ..metric_key_result("response_minutes", &[""], 30)
        },
    )
    .await;
    activate(&app, &okr).await;

    let progress = progress_at(&app, &okr, "2026-04-01T00:00:00Z").await;
    let [speaking, outreach, response] = &progress.key_results[..] else {
        panic!("three key results");
    };
    assert_some_close(speaking.score, 1.0 / 3.0, "events");
    // Cumulative from the start: 15 + 25, baseline 0.
    assert_some_close(outreach.baseline, 0.0, "outreach baseline");
    assert_some_close(outreach.current, 40.0, "outreach");
    assert_some_close(outreach.score, 0.4, "outreach score");
    // Baseline (50 + 70) / 2 = 60, target 45, current (50 + 52) / 2 = 51.
    assert_some_close(response.baseline, 60.0, "response baseline");
    assert_some_close(response.target, 45.0, "response target");
    assert_some_close(response.current, 51.0, "response now");
    assert_some_close(response.score, 0.6, "response score");
    let score = (1.0 / 3.0 + 0.4 + 0.6) / 3.0;
    assert_close(progress.score, score, "goal score");
    assert_eq!(pb::Grade::try_from(progress.grade), Ok(pb::Grade::Yellow));
    // r = 0.7 × 90/181; 0.444 ≥ 0.9 r.
    assert_eq!(status_of(progress.status), pb::ProgressStatus::OnTrack);
    for key_result in &progress.key_results {
        assert_eq!(status_of(key_result.status), pb::ProgressStatus::OnTrack);
    }

    // At the deadline the OKR needs 0.7: with nothing more it is MISSED.
    let at_deadline = progress_at(&app, &okr, "2026-07-01T00:00:00Z").await;
    assert_eq!(status_of(at_deadline.status), pb::ProgressStatus::Missed);
}
