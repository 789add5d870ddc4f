//! The demo's daily values: a pure function of (metric, account, day) and the
//! story's anchor day, the day the demo goals start.
//!
//! Each value is a level (a yearly trend and a gentle yearly wave), times the
//! account's weekly shape, times the story's effect after the anchor, times
//! noise from a PRNG seeded by the metric, the account and the day, so every
//! run writes the same value for the same key.

use std::f64::consts::PI;

use chrono::{Datelike, NaiveDate};

use super::request_id::fnv1a_64;

/// The base metrics the demo observes, by their catalog keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Times content was displayed.
    Impressions,
    /// Likes and reactions.
    Likes,
    /// Comments and replies.
    Comments,
    /// Reposts and shares.
    Shares,
    /// Followers at the time of observation (aggregates as LAST).
    Followers,
    /// Website sessions arriving from the account.
    Sessions,
    /// Sessions that left after one page.
    Bounces,
    /// Posts by others naming the brand.
    Mentions,
    /// Mentions with a positive tone.
    PositiveMentions,
    /// Mentions with a negative tone.
    NegativeMentions,
}

impl Metric {
    /// The metric's key in the catalog.
    pub fn key(self) -> &'static str {
        match self {
            Metric::Impressions => "impressions",
            Metric::Likes => "likes",
            Metric::Comments => "comments",
            Metric::Shares => "shares",
            Metric::Followers => "followers",
            Metric::Sessions => "sessions",
            Metric::Bounces => "bounces",
            Metric::Mentions => "mentions",
            Metric::PositiveMentions => "positive_mentions",
            Metric::NegativeMentions => "negative_mentions",
        }
    }
}

/// Every account's content metrics.
const CONTENT: [Metric; 5] = [
    Metric::Impressions,
    Metric::Likes,
    Metric::Comments,
    Metric::Shares,
    Metric::Followers,
];

/// Traffic an account sends to the shop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Traffic {
    /// Sessions on an average day.
    pub sessions_per_day: f64,
    /// The share of sessions that bounce, before the story's landing pages.
    pub bounce_share: f64,
}

/// What people say about the brand on an account's network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conversation {
    /// Mentions on an average day.
    pub mentions_per_day: f64,
    /// The share of mentions with a positive tone.
    pub positive_share: f64,
    /// The share of mentions with a negative tone.
    pub negative_share: f64,
}

/// How one account behaves over the year.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    /// Followers on the anchor day.
    pub followers: f64,
    /// Followers gained per day, as a fraction of `followers`.
    pub follower_growth: f64,
    /// Impressions per follower on an average day.
    pub reach: f64,
    /// Likes per impression.
    pub like_rate: f64,
    /// Comments per impression.
    pub comment_rate: f64,
    /// Shares per impression.
    pub share_rate: f64,
    /// Relative change of the content level over a year (−0.5 halves it).
    pub yearly_trend: f64,
    /// Activity by weekday, Monday first, around 1.
    pub week: [f64; 7],
    /// Interactions lost per impression by 91 days after the anchor, for the
    /// accounts whose audience tires of their content while the OKR runs.
    pub fading: f64,
    /// Shop traffic, for accounts that send any.
    pub traffic: Option<Traffic>,
    /// Brand conversation, for networks where it is tracked.
    pub conversation: Option<Conversation>,
}

impl Profile {
    /// The metrics observed on the account.
    pub fn metrics(&self) -> Vec<Metric> {
        let mut metrics = CONTENT.to_vec();
        if self.traffic.is_some() {
            metrics.extend([Metric::Sessions, Metric::Bounces]);
        }
        if self.conversation.is_some() {
            metrics.extend([
                Metric::Mentions,
                Metric::PositiveMentions,
                Metric::NegativeMentions,
            ]);
        }
        metrics
    }
}

/// The share of bounces the new landing pages remove, `days` after the
/// anchor: most of a fifth, approached quickly at first, so the SMART goal
/// runs ahead of its schedule.
pub fn bounce_cut(days: i64) -> f64 {
    if days <= 0 {
        0.0
    } else {
        0.2 * (1.0 - (-(days as f64) / 60.0).exp())
    }
}

/// Weekend visitors bounce more: they browse on phones.
const BOUNCE_WEEK: [f64; 7] = [0.97, 0.97, 0.97, 0.98, 1.0, 1.05, 1.06];

/// One account's identity in the seeds: its network and handle, which do not
/// change between databases as server-assigned names do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesKey<'a> {
    /// The network's short name, such as `instagram`.
    pub network: &'a str,
    /// The account's handle.
    pub handle: &'a str,
}

/// The value of `metric` on the account on `day`, given the anchor day.
pub fn value(
    profile: &Profile,
    key: SeriesKey<'_>,
    metric: Metric,
    day: NaiveDate,
    anchor: NaiveDate,
) -> f64 {
    let days = (day - anchor).num_days();
    let weekday = day.weekday().num_days_from_monday() as usize;
    let noise = |metric: Metric, spread: f64| noise(metric, key, day, spread);
    let followers = expected_followers(profile, days);
    let level = (1.0 + profile.yearly_trend * days as f64 / 365.0) * yearly_wave(day);
    let impressions = followers * profile.reach * level * profile.week[weekday];
    let fading = 1.0 - profile.fading * (days.max(0) as f64 / 91.0).min(1.0);
    let value = match metric {
        Metric::Followers => followers * noise(metric, 0.0005),
        Metric::Impressions => impressions * noise(metric, 0.12),
        Metric::Likes => impressions * profile.like_rate * fading * noise(metric, 0.15),
        Metric::Comments => impressions * profile.comment_rate * fading * noise(metric, 0.2),
        Metric::Shares => impressions * profile.share_rate * fading * noise(metric, 0.2),
        Metric::Sessions | Metric::Bounces => {
            let Some(traffic) = profile.traffic else {
                return 0.0;
            };
            let sessions =
                (traffic.sessions_per_day * profile.week[weekday] * noise(Metric::Sessions, 0.1))
                    .round();
            if metric == Metric::Sessions {
                sessions
            } else {
                let share = traffic.bounce_share * BOUNCE_WEEK[weekday] * (1.0 - bounce_cut(days));
                (sessions * share * noise(metric, 0.05)).min(sessions)
            }
        }
        Metric::Mentions | Metric::PositiveMentions | Metric::NegativeMentions => {
            let Some(conversation) = profile.conversation else {
                return 0.0;
            };
            let mentions = (conversation.mentions_per_day
                * level
                * profile.week[weekday]
                * noise(Metric::Mentions, 0.2))
            .round();
            match metric {
                Metric::PositiveMentions => {
                    (mentions * conversation.positive_share * noise(metric, 0.15)).min(mentions)
                }
                Metric::NegativeMentions => {
                    (mentions * conversation.negative_share * noise(metric, 0.25)).min(mentions)
                }
                _ => mentions,
            }
        }
    };
    value.max(0.0).round()
}

/// Followers without noise: a straight line through the anchor.
fn expected_followers(profile: &Profile, days: i64) -> f64 {
    (profile.followers * (1.0 + profile.follower_growth * days as f64)).max(0.0)
}

/// A gentle yearly wave, highest in midwinter when people drink more coffee.
fn yearly_wave(day: NaiveDate) -> f64 {
    let angle = 2.0 * PI * f64::from(day.ordinal0()) / 365.25;
    1.0 + 0.04 * angle.cos()
}

/// A factor around 1 with roughly normal spread `spread`, the same for the
/// same metric, account and day on every run.
fn noise(metric: Metric, key: SeriesKey<'_>, day: NaiveDate, spread: f64) -> f64 {
    let seed = fnv1a_64(&[
        metric.key().as_bytes(),
        key.network.as_bytes(),
        key.handle.as_bytes(),
        day.to_string().as_bytes(),
    ]);
    let mut rng = fastrand::Rng::with_seed(seed);
    // The sum of four uniforms, scaled to unit variance, is close enough to
    // normal and cannot run away the way an unbounded tail could.
    let z = ((0..4).map(|_| rng.f64()).sum::<f64>() - 2.0) * 3.0_f64.sqrt();
    (1.0 + spread * z).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: SeriesKey<'static> = SeriesKey {
        network: "instagram",
        handle: "lumen.coffee",
    };

    fn profile() -> Profile {
        Profile {
            followers: 40_000.0,
            follower_growth: 0.001,
            reach: 0.5,
            like_rate: 0.04,
            comment_rate: 0.004,
            share_rate: 0.002,
            yearly_trend: 0.1,
            week: [0.9, 0.95, 1.0, 1.0, 1.05, 1.05, 1.05],
            fading: 0.35,
            traffic: Some(Traffic {
                sessions_per_day: 900.0,
                bounce_share: 0.5,
            }),
            conversation: Some(Conversation {
                mentions_per_day: 60.0,
                positive_share: 0.5,
                negative_share: 0.15,
            }),
        }
    }

    fn day(text: &str) -> NaiveDate {
        text.parse().expect("a date")
    }

    #[test]
    fn the_same_key_gives_the_same_value_on_every_call() {
        let anchor = day("2026-10-20");
        for metric in profile().metrics() {
            let first = value(&profile(), KEY, metric, day("2026-09-01"), anchor);
            let second = value(&profile(), KEY, metric, day("2026-09-01"), anchor);
            assert_eq!(first, second, "{}", metric.key());
        }
    }

    #[test]
    fn days_and_accounts_get_different_noise() {
        let anchor = day("2026-10-20");
        let other = SeriesKey {
            network: "tiktok",
            handle: "lumencoffee",
        };
        let values: Vec<f64> = ["2026-09-01", "2026-09-08", "2026-09-15"]
            .into_iter()
            .map(|text| value(&profile(), KEY, Metric::Likes, day(text), anchor))
            .collect();
        assert!(
            values[0] != values[1] || values[1] != values[2],
            "{values:?}"
        );
        let on_other = value(&profile(), other, Metric::Likes, day("2026-09-01"), anchor);
        assert_ne!(values[0], on_other);
    }

    #[test]
    fn values_are_whole_non_negative_counts_and_bounces_stay_below_sessions() {
        let anchor = day("2026-10-20");
        let mut current = day("2025-10-20");
        while current <= day("2026-12-31") {
            for metric in profile().metrics() {
                let found = value(&profile(), KEY, metric, current, anchor);
                assert!(
                    found >= 0.0 && found.fract() == 0.0,
                    "{metric:?} {current}: {found}"
                );
            }
            let sessions = value(&profile(), KEY, Metric::Sessions, current, anchor);
            let bounces = value(&profile(), KEY, Metric::Bounces, current, anchor);
            assert!(bounces <= sessions, "{current}: {bounces} of {sessions}");
            let mentions = value(&profile(), KEY, Metric::Mentions, current, anchor);
            let negative = value(&profile(), KEY, Metric::NegativeMentions, current, anchor);
            assert!(negative <= mentions, "{current}");
            current = current.succ_opt().expect("a next day");
        }
    }

    /// The sum of `metric` over the `days` days ending the day before `end`.
    fn sum(metric: Metric, end: NaiveDate, days: i64, anchor: NaiveDate) -> f64 {
        (1..=days)
            .map(|back| {
                value(
                    &profile(),
                    KEY,
                    metric,
                    end - chrono::Days::new(back as u64),
                    anchor,
                )
            })
            .sum()
    }

    #[test]
    fn the_bounce_rate_falls_after_the_anchor() {
        let anchor = day("2026-10-20");
        let rate = |end: NaiveDate| {
            sum(Metric::Bounces, end, 28, anchor) / sum(Metric::Sessions, end, 28, anchor)
        };
        let before = rate(anchor);
        let six_weeks_in = rate(anchor + chrono::Days::new(42));
        let cut = 1.0 - six_weeks_in / before;
        assert!((0.05..0.12).contains(&cut), "cut {cut}");
    }

    #[test]
    fn a_fading_account_loses_engagement_after_the_anchor() {
        let anchor = day("2026-10-20");
        let engagement = |end: NaiveDate| {
            let interactions: f64 = [Metric::Likes, Metric::Comments, Metric::Shares]
                .into_iter()
                .map(|metric| sum(metric, end, 28, anchor))
                .sum();
            interactions / value(&profile(), KEY, Metric::Followers, end, anchor)
        };
        assert!(engagement(anchor + chrono::Days::new(42)) < 0.97 * engagement(anchor));
    }

    #[test]
    fn the_weekly_shape_shows_in_the_values() {
        let anchor = day("2026-10-20");
        let mut profile = profile();
        profile.week = [1.3, 1.3, 1.3, 1.3, 1.3, 0.25, 0.25];
        // Over many weeks the noise averages out and the shape remains.
        let (mut weekdays, mut weekends) = (0.0, 0.0);
        for week in 0..20 {
            let monday = day("2026-06-01") + chrono::Days::new(7 * week);
            weekdays += value(&profile, KEY, Metric::Impressions, monday, anchor);
            weekends += value(
                &profile,
                KEY,
                Metric::Impressions,
                monday + chrono::Days::new(6),
                anchor,
            );
        }
        assert!(weekdays > 3.0 * weekends, "{weekdays} vs {weekends}");
    }
}
