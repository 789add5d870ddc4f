//! The demo company's social accounts, how each behaves, and what the audit
//! says about them. The company is a coffee roaster, Lumen Coffee.

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};

use super::series::{self, Conversation, Metric, Profile, SeriesKey, Traffic};
use crate::pb;
use crate::pb::account::{Network, Status};
use crate::pb::audit_entry::Assessment;

/// One demo account: what is registered and how its numbers move.
#[derive(Debug, Clone)]
pub struct DemoAccount {
    /// The network's short name, used in seeds and printed lines.
    pub network_name: &'static str,
    /// The network.
    pub network: Network,
    /// The handle, without `@` (the service stores it so).
    pub handle: &'static str,
    /// The label shown for the account.
    pub display_name: &'static str,
    /// The profile's address.
    pub profile_url: &'static str,
    /// Who runs it; empty for the account the audit must flag.
    pub owner: &'static str,
    /// Why it exists.
    pub purpose: &'static str,
    /// Its standing.
    pub status: Status,
    /// The auditor's verdict.
    pub assessment: Assessment,
    /// The auditor's remark.
    pub notes: &'static str,
    /// A post the auditor picked, if any.
    pub top_post_url: Option<&'static str>,
    /// How its numbers behave over the year.
    pub profile: Profile,
}

impl DemoAccount {
    /// The account as CreateAccount takes it.
    pub fn to_proto(&self) -> pb::Account {
        pb::Account {
            network: self.network as i32,
            handle: self.handle.to_owned(),
            profile_url: self.profile_url.to_owned(),
            display_name: self.display_name.to_owned(),
            owner: self.owner.to_owned(),
            purpose: self.purpose.to_owned(),
            status: self.status as i32,
            ..Default::default()
        }
    }

    /// The account's identity in the seeds of its values.
    pub fn series_key(&self) -> SeriesKey<'static> {
        SeriesKey {
            network: self.network_name,
            handle: self.handle,
        }
    }

    /// The value of `metric` on `day`.
    pub fn value(&self, metric: Metric, day: NaiveDate, anchor: NaiveDate) -> f64 {
        series::value(&self.profile, self.series_key(), metric, day, anchor)
    }

    /// The sum of `metric` over the 28 days ending with `day`.
    fn sum_28_days(&self, metric: Metric, day: NaiveDate, anchor: NaiveDate) -> f64 {
        (0..28)
            .map(|back| self.value(metric, day - Days::new(back), anchor))
            .sum()
    }

    /// The audit entry's figures on `day`: followers as observed that day
    /// (completing the audit records them as an observation, which then
    /// equals the daily one), and the derived rates of the 28 days up to it
    /// (derived metrics are never recorded as observations).
    pub fn audit_metrics(&self, day: NaiveDate, anchor: NaiveDate) -> BTreeMap<String, f64> {
        let followers = self.value(Metric::Followers, day, anchor);
        let interactions: f64 = [Metric::Likes, Metric::Comments, Metric::Shares]
            .into_iter()
            .map(|metric| self.sum_28_days(metric, day, anchor))
            .sum();
        let mut metrics = BTreeMap::from([("followers".to_owned(), followers)]);
        if followers > 0.0 {
            metrics.insert(
                "engagement_rate".to_owned(),
                round2(100.0 * interactions / followers),
            );
        }
        if self.profile.traffic.is_some() {
            let sessions = self.sum_28_days(Metric::Sessions, day, anchor);
            let bounces = self.sum_28_days(Metric::Bounces, day, anchor);
            if sessions > 0.0 {
                metrics.insert("bounce_rate".to_owned(), round2(100.0 * bounces / sessions));
            }
        }
        metrics
    }
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// Which demo account; the order of [`accounts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AccountKey {
    /// The brand's Instagram.
    Instagram,
    /// The company page on LinkedIn.
    LinkedIn,
    /// Short recipes on TikTok.
    TikTok,
    /// Brewing guides on YouTube.
    YouTube,
    /// Customer care on X.
    X,
    /// A dormant Facebook page nobody owns.
    Facebook,
}

/// Every weekday alike.
const FLAT_WEEK: [f64; 7] = [1.0; 7];

/// The demo accounts, in [`AccountKey`] order.
pub fn accounts() -> Vec<(AccountKey, DemoAccount)> {
    vec![
        (
            AccountKey::Instagram,
            DemoAccount {
                network_name: "instagram",
                network: Network::Instagram,
                handle: "lumen.coffee",
                display_name: "Lumen Coffee",
                profile_url: "https://www.instagram.com/lumen.coffee",
                owner: "social team",
                purpose: "brand awareness and product launches",
                status: Status::Active,
                assessment: Assessment::PerformingWell,
                notes: "Steady growth; reels of the roastery carry the account.",
                top_post_url: Some("https://www.instagram.com/p/lumen-autumn-blend"),
                profile: Profile {
                    followers: 48_000.0,
                    follower_growth: 0.0008,
                    reach: 0.45,
                    like_rate: 0.045,
                    comment_rate: 0.004,
                    share_rate: 0.002,
                    yearly_trend: 0.15,
                    week: [0.9, 0.92, 0.95, 1.0, 1.05, 1.12, 1.06],
                    fading: 0.0,
                    traffic: Some(Traffic {
                        sessions_per_day: 850.0,
                        bounce_share: 0.52,
                    }),
                    conversation: Some(Conversation {
                        mentions_per_day: 45.0,
                        positive_share: 0.55,
                        negative_share: 0.12,
                    }),
                },
            },
        ),
        (
            AccountKey::LinkedIn,
            DemoAccount {
                network_name: "linkedin",
                network: Network::Linkedin,
                handle: "lumen-coffee-roasters",
                display_name: "Lumen Coffee Roasters",
                profile_url: "https://www.linkedin.com/company/lumen-coffee-roasters",
                owner: "people team",
                purpose: "recruiting baristas and roasters",
                status: Status::Active,
                assessment: Assessment::PerformingWell,
                notes: "Job posts bring most applications; keep the cadence.",
                top_post_url: None,
                profile: Profile {
                    followers: 9_500.0,
                    follower_growth: 0.0012,
                    reach: 0.3,
                    like_rate: 0.02,
                    comment_rate: 0.002,
                    share_rate: 0.003,
                    yearly_trend: 0.2,
                    week: [1.15, 1.2, 1.2, 1.15, 1.0, 0.65, 0.65],
                    fading: 0.0,
                    traffic: Some(Traffic {
                        sessions_per_day: 220.0,
                        bounce_share: 0.38,
                    }),
                    conversation: None,
                },
            },
        ),
        (
            AccountKey::TikTok,
            DemoAccount {
                network_name: "tiktok",
                network: Network::Tiktok,
                handle: "lumencoffee",
                display_name: "Lumen Coffee",
                profile_url: "https://www.tiktok.com/@lumencoffee",
                owner: "video team",
                purpose: "short recipes for a younger audience",
                status: Status::Active,
                assessment: Assessment::NeedsFocus,
                notes: "Large reach but few visitors stay on the shop; rework the landing pages.",
                top_post_url: Some("https://www.tiktok.com/@lumencoffee/video/iced-latte-60s"),
                profile: Profile {
                    followers: 62_000.0,
                    follower_growth: 0.0006,
                    reach: 1.1,
                    like_rate: 0.06,
                    comment_rate: 0.003,
                    share_rate: 0.004,
                    yearly_trend: 0.05,
                    week: [0.9, 0.9, 0.95, 1.0, 1.05, 1.1, 1.1],
                    fading: 0.35,
                    traffic: Some(Traffic {
                        sessions_per_day: 600.0,
                        bounce_share: 0.64,
                    }),
                    conversation: None,
                },
            },
        ),
        (
            AccountKey::YouTube,
            DemoAccount {
                network_name: "youtube",
                network: Network::Youtube,
                handle: "LumenCoffeeTV",
                display_name: "Lumen Coffee TV",
                profile_url: "https://www.youtube.com/@LumenCoffeeTV",
                owner: "video team",
                purpose: "brewing guides and roastery tours",
                status: Status::Active,
                assessment: Assessment::NeedsFocus,
                notes: "Long guides age well but new uploads are rare.",
                top_post_url: None,
                profile: Profile {
                    followers: 15_000.0,
                    follower_growth: 0.0005,
                    reach: 0.25,
                    like_rate: 0.035,
                    comment_rate: 0.005,
                    share_rate: 0.002,
                    yearly_trend: 0.0,
                    week: [0.95, 0.95, 0.95, 1.0, 1.0, 1.1, 1.05],
                    fading: 0.3,
                    traffic: None,
                    conversation: None,
                },
            },
        ),
        (
            AccountKey::X,
            DemoAccount {
                network_name: "x",
                network: Network::X,
                handle: "LumenCoffeeHelp",
                display_name: "Lumen Coffee Help",
                profile_url: "https://x.com/LumenCoffeeHelp",
                owner: "customer care",
                purpose: "customer service",
                status: Status::Active,
                assessment: Assessment::PerformingWell,
                notes: "Answers within hours; negative mentions cluster after shipping delays.",
                top_post_url: None,
                profile: Profile {
                    followers: 7_800.0,
                    follower_growth: 0.0004,
                    reach: 0.6,
                    like_rate: 0.01,
                    comment_rate: 0.006,
                    share_rate: 0.002,
                    yearly_trend: 0.0,
                    week: [1.1, 1.1, 1.05, 1.0, 1.0, 0.9, 0.85],
                    fading: 0.0,
                    traffic: None,
                    conversation: Some(Conversation {
                        mentions_per_day: 120.0,
                        positive_share: 0.35,
                        negative_share: 0.22,
                    }),
                },
            },
        ),
        (
            AccountKey::Facebook,
            DemoAccount {
                network_name: "facebook",
                network: Network::Facebook,
                handle: "lumencoffee.community",
                display_name: "Lumen Coffee Community",
                profile_url: "https://www.facebook.com/lumencoffee.community",
                owner: "",
                purpose: "community page from the 2019 launch",
                status: Status::Dormant,
                assessment: Assessment::Retire,
                notes: "Nobody has owned the page since the launch team left; it only repeats Instagram posts.",
                top_post_url: None,
                profile: Profile {
                    followers: 5_200.0,
                    follower_growth: -0.0002,
                    reach: 0.08,
                    like_rate: 0.01,
                    comment_rate: 0.001,
                    share_rate: 0.0005,
                    yearly_trend: -0.4,
                    week: FLAT_WEEK,
                    fading: 0.0,
                    traffic: None,
                    conversation: None,
                },
            },
        ),
    ]
}

/// How many observations a run writes: one per series and day.
pub fn observation_count(days: usize) -> usize {
    accounts()
        .iter()
        .map(|(_, account)| account.profile.metrics().len() * days)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_are_unique_by_network_and_handle_and_one_has_no_owner() {
        let accounts = accounts();
        let mut keys: Vec<(i32, String)> = accounts
            .iter()
            .map(|(_, account)| (account.network as i32, account.handle.to_lowercase()))
            .collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), accounts.len());
        let unowned = accounts
            .iter()
            .filter(|(_, account)| account.owner.is_empty())
            .count();
        assert_eq!(unowned, 1);
        let networks: std::collections::BTreeSet<i32> = accounts
            .iter()
            .map(|(_, account)| account.network as i32)
            .collect();
        assert!(networks.len() >= 5);
    }

    #[test]
    fn a_year_is_about_fifteen_thousand_observations() {
        assert_eq!(observation_count(365), 42 * 365);
    }

    /// The OKR's engagement key result over TikTok and YouTube: 100 × the
    /// 28 days of interactions up to `day` over the followers on `day`.
    fn video_engagement(day: NaiveDate, anchor: NaiveDate) -> f64 {
        let video: Vec<DemoAccount> = accounts()
            .into_iter()
            .filter(|(key, _)| matches!(key, AccountKey::TikTok | AccountKey::YouTube))
            .map(|(_, account)| account)
            .collect();
        let interactions: f64 = video
            .iter()
            .flat_map(|account| {
                [Metric::Likes, Metric::Comments, Metric::Shares]
                    .map(|metric| account.sum_28_days(metric, day, anchor))
            })
            .sum();
        let followers: f64 = video
            .iter()
            .map(|account| account.value(Metric::Followers, day, anchor))
            .sum();
        100.0 * interactions / followers
    }

    #[test]
    fn video_engagement_falls_after_the_anchor_whatever_the_season() {
        // The yearly wave must not outweigh the fading the OKR is off track on.
        for month in 1..=12 {
            let anchor = NaiveDate::from_ymd_opt(2026, month, 1).expect("a date");
            let before = video_engagement(anchor - Days::new(1), anchor);
            for weeks in [6, 9] {
                let after = video_engagement(anchor + Days::new(7 * weeks - 1), anchor);
                assert!(
                    after < before,
                    "anchor {anchor}, week {weeks}: {after} vs {before}"
                );
            }
        }
    }

    #[test]
    fn audit_figures_give_findings_for_three_metrics() {
        let anchor: NaiveDate = "2026-10-21".parse().unwrap();
        let day = anchor - Days::new(3);
        let mut present: BTreeMap<String, usize> = BTreeMap::new();
        for (_, account) in accounts() {
            let metrics = account.audit_metrics(day, anchor);
            assert_eq!(
                metrics["followers"],
                account.value(Metric::Followers, day, anchor),
                "{}",
                account.handle
            );
            for (key, value) in metrics {
                assert!(value.is_finite() && value >= 0.0, "{key} {value}");
                *present.entry(key).or_default() += 1;
            }
        }
        // Findings name top and bottom performers of metrics in 3+ entries.
        assert_eq!(present["followers"], 6);
        assert_eq!(present["engagement_rate"], 6);
        assert_eq!(present["bounce_rate"], 3);
    }
}
