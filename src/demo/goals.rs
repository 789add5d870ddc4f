//! The demo's two goals and their key results: a S.M.A.R.T. goal that cuts
//! the bounce rate of visitors from social (the data puts it on track) and
//! an OKR for the video accounts whose audience is fading (off track).

use std::collections::BTreeMap;

use super::accounts::AccountKey;
use super::timeline::Timeline;
use crate::api::time::to_proto;
use crate::pb;
use crate::pb::goal::Framework;
use crate::pb::key_result::{Kind, Milestone, TargetMode};

/// The team of every demo goal; reruns find the goals by it and their title.
pub const TEAM: &str = "demo";
/// The S.M.A.R.T. goal's title.
pub const SMART_TITLE: &str = "Cut the bounce rate of visitors from social by 20 %";
/// The OKR's title.
pub const OKR_TITLE: &str = "Build a video community that talks back";

/// A goal to create, with its key results.
#[derive(Debug, Clone)]
pub struct GoalPlan {
    /// The goal as CreateGoal takes it.
    pub goal: pb::Goal,
    /// Its key results as CreateKeyResult takes them, in order.
    pub key_results: Vec<pb::KeyResult>,
    /// Milestones to mark done, by key result title and milestone title,
    /// with their backdated done time.
    pub done: Vec<MilestoneDone>,
}

/// A milestone the demo marks done.
#[derive(Debug, Clone)]
pub struct MilestoneDone {
    /// The title of its key result.
    pub key_result: &'static str,
    /// The milestone's title.
    pub milestone: &'static str,
    /// When it was done.
    pub done_time: prost_types::Timestamp,
}

/// The accounts' resource names, by key.
pub type AccountNames = BTreeMap<AccountKey, String>;

fn names(accounts: &AccountNames, keys: &[AccountKey]) -> Vec<String> {
    keys.iter()
        .filter_map(|key| accounts.get(key).cloned())
        .collect()
}

/// The S.M.A.R.T. goal: bounce rate over every account, a trailing 28-day
/// window, down 20 % from the 90 days before the start.
pub fn smart(timeline: &Timeline) -> GoalPlan {
    let (baseline_start, baseline_end) = timeline.baseline();
    GoalPlan {
        goal: pb::Goal {
            title: SMART_TITLE.to_owned(),
            description: "New landing pages for every social campaign went live on the start \
                          day; visitors should stop leaving after the first page."
                .to_owned(),
            goal_type: pb::GoalType::Conversions as i32,
            framework: Framework::Smart as i32,
            owner: "noor@lumen-coffee.example".to_owned(),
            team: TEAM.to_owned(),
            business_objective: "Sell more beans online: visitors who stay on the shop buy"
                .to_owned(),
            start_time: Some(to_proto(timeline.start())),
            deadline: Some(to_proto(timeline.smart_deadline())),
            ..Default::default()
        },
        key_results: vec![pb::KeyResult {
            title: "Bounce rate of social visitors down 20 %".to_owned(),
            kind: Kind::Metric as i32,
            metric_key: "bounce_rate".to_owned(),
            window_days: 28,
            target_mode: TargetMode::Reach as i32,
            baseline_start: Some(to_proto(baseline_start)),
            baseline_end: Some(to_proto(baseline_end)),
            target_change_percent: Some(-20.0),
            ..Default::default()
        }],
        done: Vec::new(),
    }
}

/// The title of the OKR's milestone key result.
const PROGRAMME: &str = "Launch the community programme";

/// The OKR: TikTok followers, engagement on the video accounts, and a
/// community programme of six milestones, two of them done.
pub fn okr(timeline: &Timeline, accounts: &AccountNames) -> GoalPlan {
    let milestones = [
        "Publish community guidelines",
        "Run a weekly live tasting",
        "Recruit ten creator ambassadors",
        "Launch a home-brew video challenge",
        "Answer every comment within a day",
        "Start a monthly community newsletter",
    ];
    GoalPlan {
        goal: pb::Goal {
            title: OKR_TITLE.to_owned(),
            description: "Turn short-video viewers into regulars who comment, share and come \
                          back for the next recipe."
                .to_owned(),
            goal_type: pb::GoalType::CommunityEngagement as i32,
            framework: Framework::Okr as i32,
            owner: "sam@lumen-coffee.example".to_owned(),
            team: TEAM.to_owned(),
            business_objective: "Grow the next generation of coffee drinkers".to_owned(),
            start_time: Some(to_proto(timeline.start())),
            deadline: Some(to_proto(timeline.okr_deadline())),
            ..Default::default()
        },
        key_results: vec![
            pb::KeyResult {
                title: "TikTok followers up 40 %".to_owned(),
                kind: Kind::Metric as i32,
                metric_key: "followers".to_owned(),
                accounts: names(accounts, &[AccountKey::TikTok]),
                window_days: 7,
                target_mode: TargetMode::Reach as i32,
                target_change_percent: Some(40.0),
                ..Default::default()
            },
            pb::KeyResult {
                title: "Engagement rate on TikTok and YouTube up 30 %".to_owned(),
                kind: Kind::Metric as i32,
                metric_key: "engagement_rate".to_owned(),
                accounts: names(accounts, &[AccountKey::TikTok, AccountKey::YouTube]),
                window_days: 28,
                target_mode: TargetMode::Reach as i32,
                target_change_percent: Some(30.0),
                ..Default::default()
            },
            pb::KeyResult {
                title: PROGRAMME.to_owned(),
                kind: Kind::Milestone as i32,
                milestones: milestones
                    .iter()
                    .map(|title| Milestone {
                        title: (*title).to_owned(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            },
        ],
        done: vec![
            MilestoneDone {
                key_result: PROGRAMME,
                milestone: milestones[0],
                done_time: to_proto(timeline.after_start(9, 15)),
            },
            MilestoneDone {
                key_result: PROGRAMME,
                milestone: milestones[1],
                done_time: to_proto(timeline.after_start(23, 10)),
            },
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeline() -> Timeline {
        Timeline::new(None, "2026-12-02T10:00:00Z".parse().unwrap())
    }

    fn account_names() -> AccountNames {
        [
            (AccountKey::TikTok, "accounts/t".to_owned()),
            (AccountKey::YouTube, "accounts/y".to_owned()),
        ]
        .into()
    }

    #[test]
    fn the_smart_goal_would_pass_its_checks() {
        let plan = smart(&timeline());
        assert!(plan.goal.title.split_whitespace().count() >= 3);
        assert!(!plan.goal.business_objective.is_empty());
        let seconds = |time: Option<prost_types::Timestamp>| time.map(|time| time.seconds);
        assert!(seconds(plan.goal.deadline) > seconds(plan.goal.start_time));
        assert_eq!(plan.key_results.len(), 1);
        assert_eq!(plan.key_results[0].target_change_percent, Some(-20.0));
    }

    #[test]
    fn the_okr_has_three_key_results_one_of_milestones_two_done_in_the_past() {
        let timeline = timeline();
        let plan = okr(&timeline, &account_names());
        assert_eq!(plan.key_results.len(), 3);
        assert_eq!(plan.key_results[0].accounts, ["accounts/t"]);
        assert_eq!(plan.key_results[1].accounts, ["accounts/t", "accounts/y"]);
        let milestones = &plan.key_results[2].milestones;
        assert_eq!(milestones.len(), 6);
        assert_eq!(plan.done.len(), 2);
        let now = to_proto("2026-12-02T10:00:00Z".parse().unwrap());
        let start = plan.goal.start_time.expect("a start time");
        for done in &plan.done {
            assert!(done.done_time.seconds > start.seconds);
            assert!(done.done_time.seconds < now.seconds);
            assert!(milestones.iter().any(|m| m.title == done.milestone));
        }
    }
}
