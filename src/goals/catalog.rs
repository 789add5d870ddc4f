//! The ten goal types (DESIGN §1) with the metrics recommended for each, as
//! ListGoalTypes returns them.

use super::model::GoalType;

/// What ListGoalTypes says about one goal type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoalTypeInfo {
    /// The type described.
    pub goal_type: GoalType,
    /// A human-friendly label.
    pub display_name: &'static str,
    /// What goals of this type aim at.
    pub description: &'static str,
    /// Catalog metric keys that tie the type to a business outcome.
    pub recommended_metric_keys: &'static [&'static str],
    /// Whether goals of this type are measured, wholly or partly, by milestones.
    pub milestone_based: bool,
    /// Typical milestones; empty for types not measured by milestones.
    pub suggested_milestones: &'static [&'static str],
}

/// The description of `goal_type`.
pub fn info(goal_type: GoalType) -> GoalTypeInfo {
    let (display_name, description, recommended_metric_keys, suggested_milestones): (
        &str,
        &str,
        &[&str],
        &[&str],
    ) = match goal_type {
        GoalType::BrandAwareness => (
            "Brand awareness",
            "Make more people know the brand: more reach, impressions and conversation about it.",
            &[
                "mentions",
                "shares",
                "reach",
                "impressions",
                "virality_rate",
                "amplification_rate",
            ],
            &[],
        ),
        GoalType::BrandReputation => (
            "Brand reputation",
            "Improve how people think and feel about the brand and how it compares with competitors.",
            &[
                "customer_satisfaction_score",
                "applause_rate",
                "amplification_rate",
                "sentiment_score",
                "share_of_voice",
                "net_promoter_score",
            ],
            &[],
        ),
        GoalType::CommunityEngagement => (
            "Community engagement",
            "Grow the audience and get it to like, comment on and share what the brand posts.",
            &[
                "audience_growth_rate",
                "engagement_rate",
                "amplification_rate",
                "applause_rate",
                "click_through_rate",
                "bounce_rate",
                "conversation_rate",
                "net_promoter_score",
            ],
            &[],
        ),
        GoalType::Conversions => (
            "Conversions",
            "Turn social traffic into sales or sign-ups at a reasonable cost.",
            &[
                "conversion_rate",
                "click_through_rate",
                "bounce_rate",
                "cost_per_click",
                "cost_per_mille",
            ],
            &[],
        ),
        GoalType::MarketInsights => (
            "Market insights",
            "Learn about customers, competitors and the market by listening on social channels.",
            &[],
            &["Build buyer personas", "Refresh buyer personas"],
        ),
        GoalType::LeadGeneration => (
            "Lead generation",
            "Collect prospects, such as sign-ups and contact details, for the sales team.",
            &["conversion_rate", "leads"],
            &[],
        ),
        GoalType::CustomerService => (
            "Customer service",
            "Help customers through social channels, quickly and to their satisfaction.",
            &["customer_satisfaction_score", "requests_per_rep"],
            &[],
        ),
        GoalType::Recruitment => (
            "Recruitment",
            "Attract candidates for open positions and show what working at the company is like.",
            &[
                "conversion_rate",
                "applications",
                "followers",
                "engagement_rate",
            ],
            &[],
        ),
        GoalType::CrisisManagement => (
            "Crisis management",
            "Be ready for a crisis and weather it: policies and plans in place, sentiment watched.",
            &["sentiment_score"],
            &[
                "Write a social media policy",
                "Secure all social accounts",
                "Finish the crisis communication plan",
            ],
        ),
        GoalType::InternalCommunications => (
            "Internal communications",
            "Reach and involve the company's own staff through social channels.",
            &[
                "engagement_rate",
                "amplification_rate",
                "click_through_rate",
                "bounce_rate",
            ],
            &[],
        ),
    };
    GoalTypeInfo {
        goal_type,
        display_name,
        description,
        recommended_metric_keys,
        milestone_based: !suggested_milestones.is_empty(),
        suggested_milestones,
    }
}

/// Every goal type, in the order of the GoalType enum.
pub fn all() -> Vec<GoalTypeInfo> {
    GoalType::ALL.iter().copied().map(info).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milestone_types_suggest_milestones_and_others_recommend_metrics() {
        for info in all() {
            assert!(
                info.milestone_based || !info.recommended_metric_keys.is_empty(),
                "{:?} has nothing to measure",
                info.goal_type
            );
        }
        let crisis = info(GoalType::CrisisManagement);
        assert!(crisis.milestone_based);
        assert_eq!(crisis.recommended_metric_keys, ["sentiment_score"]);
        assert!(
            info(GoalType::MarketInsights)
                .recommended_metric_keys
                .is_empty()
        );
    }
}
