-- The metric catalog (DESIGN §1): base metrics are observed, derived metrics
-- are scale × Σ numerator terms / Σ denominator terms over aggregated values.

create table metric_definition (
    metric_key   text primary key
                 constraint metric_definition_key_format check (metric_key ~ '^[a-z][a-z0-9_]{0,62}$'),
    display_name text not null,
    description  text not null default '',
    unit         text not null default '',
    kind         text not null check (kind in ('BASE', 'DERIVED')),
    -- How a base metric aggregates over a window; null for derived metrics.
    aggregation  text check (aggregation in ('SUM', 'LAST', 'AVG', 'MIN', 'MAX')),
    better       text not null check (better in ('HIGHER', 'LOWER')),
    -- The factor of a derived metric's ratio; null for base metrics.
    scale        double precision,
    builtin      boolean not null default false,
    create_time  timestamptz not null default now(),
    constraint metric_definition_kind_shape check (
        (kind = 'BASE' and aggregation is not null and scale is null)
        or (kind = 'DERIVED' and aggregation is null and scale is not null)
    )
);

create table metric_formula_term (
    metric_key      text not null references metric_definition (metric_key) on delete cascade,
    side            text not null check (side in ('NUMERATOR', 'DENOMINATOR')),
    position        smallint not null,
    term_metric_key text not null references metric_definition (metric_key),
    coefficient     double precision not null,
    primary key (metric_key, side, position)
);

insert into metric_definition (metric_key, display_name, description, unit, kind, aggregation, better, builtin) values
    ('impressions', 'Impressions', 'Times content was displayed.', 'count', 'BASE', 'SUM', 'HIGHER', true),
    ('reach', 'Reach', 'Distinct people who saw content.', 'count', 'BASE', 'SUM', 'HIGHER', true),
    ('mentions', 'Mentions', 'Posts by others naming the brand.', 'count', 'BASE', 'SUM', 'HIGHER', true),
    ('competitor_mentions', 'Competitor mentions', 'Posts by others naming a competitor.', 'count', 'BASE', 'SUM', 'HIGHER', true),
    ('positive_mentions', 'Positive mentions', 'Mentions with a positive tone.', 'count', 'BASE', 'SUM', 'HIGHER', true),
    ('negative_mentions', 'Negative mentions', 'Mentions with a negative tone.', 'count', 'BASE', 'SUM', 'HIGHER', true),
    ('shares', 'Shares', 'Reposts, retweets and shares of content.', 'count', 'BASE', 'SUM', 'HIGHER', true),
    ('likes', 'Likes', 'Likes and reactions on content.', 'count', 'BASE', 'SUM', 'HIGHER', true),
    ('comments', 'Comments', 'Comments and replies on content.', 'count', 'BASE', 'SUM', 'HIGHER', true),
    ('clicks', 'Clicks', 'Clicks on links in content or ads.', 'count', 'BASE', 'SUM', 'HIGHER', true),
    ('sessions', 'Sessions', 'Website sessions arriving from social.', 'count', 'BASE', 'SUM', 'HIGHER', true),
    ('bounces', 'Bounces', 'Sessions from social that left after one page.', 'count', 'BASE', 'SUM', 'HIGHER', true),
    ('conversions', 'Conversions', 'Purchases, sign-ups or other goals completed.', 'count', 'BASE', 'SUM', 'HIGHER', true),
    ('leads', 'Leads', 'Prospects who left their contact details.', 'count', 'BASE', 'SUM', 'HIGHER', true),
    ('applications', 'Applications', 'Job applications received.', 'count', 'BASE', 'SUM', 'HIGHER', true),
    ('new_followers', 'New followers', 'Followers gained.', 'count', 'BASE', 'SUM', 'HIGHER', true),
    ('promoters', 'Promoters', 'Survey answers scoring 9 or 10.', 'count', 'BASE', 'SUM', 'HIGHER', true),
    ('detractors', 'Detractors', 'Survey answers scoring 0 to 6.', 'count', 'BASE', 'SUM', 'HIGHER', true),
    ('nps_responses', 'NPS responses', 'Answers to the net promoter question.', 'count', 'BASE', 'SUM', 'HIGHER', true),
    ('csat_satisfied', 'Satisfied customers', 'Satisfaction answers at the top of the scale.', 'count', 'BASE', 'SUM', 'HIGHER', true),
    ('csat_responses', 'CSAT responses', 'Answers to the satisfaction question.', 'count', 'BASE', 'SUM', 'HIGHER', true),
    ('service_requests_resolved', 'Service requests resolved', 'Customer requests closed through social.', 'count', 'BASE', 'SUM', 'HIGHER', true),
    ('ad_spend', 'Ad spend', 'Money spent on paid social.', 'currency', 'BASE', 'SUM', 'LOWER', true),
    ('followers', 'Followers', 'Followers at the time of observation.', 'count', 'BASE', 'LAST', 'HIGHER', true),
    ('service_reps', 'Service reps', 'People answering customers on social.', 'count', 'BASE', 'LAST', 'HIGHER', true);

insert into metric_definition (metric_key, display_name, description, unit, kind, better, scale, builtin) values
    ('engagement_rate', 'Engagement rate', 'Likes, comments and shares per follower.', 'percent', 'DERIVED', 'HIGHER', 100, true),
    ('amplification_rate', 'Amplification rate', 'Shares per follower.', 'percent', 'DERIVED', 'HIGHER', 100, true),
    ('applause_rate', 'Applause rate', 'Likes per follower.', 'percent', 'DERIVED', 'HIGHER', 100, true),
    ('conversation_rate', 'Conversation rate', 'Comments per follower.', 'percent', 'DERIVED', 'HIGHER', 100, true),
    ('virality_rate', 'Virality rate', 'Shares per impression.', 'percent', 'DERIVED', 'HIGHER', 100, true),
    ('click_through_rate', 'Click-through rate', 'Clicks per impression.', 'percent', 'DERIVED', 'HIGHER', 100, true),
    ('conversion_rate', 'Conversion rate', 'Conversions per click.', 'percent', 'DERIVED', 'HIGHER', 100, true),
    ('bounce_rate', 'Bounce rate', 'Bounces per session.', 'percent', 'DERIVED', 'LOWER', 100, true),
    ('audience_growth_rate', 'Audience growth rate', 'New followers per follower.', 'percent', 'DERIVED', 'HIGHER', 100, true),
    ('share_of_voice', 'Share of voice', 'Brand mentions among brand and competitor mentions.', 'percent', 'DERIVED', 'HIGHER', 100, true),
    ('sentiment_score', 'Sentiment score', 'Positive mentions among positive and negative ones.', 'percent', 'DERIVED', 'HIGHER', 100, true),
    ('net_promoter_score', 'Net promoter score', 'Promoters minus detractors per answer.', 'score', 'DERIVED', 'HIGHER', 100, true),
    ('customer_satisfaction_score', 'Customer satisfaction score', 'Satisfied answers per answer.', 'percent', 'DERIVED', 'HIGHER', 100, true),
    ('cost_per_click', 'Cost per click', 'Ad spend per click.', 'currency', 'DERIVED', 'LOWER', 1, true),
    ('cost_per_mille', 'Cost per mille', 'Ad spend per thousand impressions.', 'currency', 'DERIVED', 'LOWER', 1000, true),
    ('requests_per_rep', 'Requests per rep', 'Service requests resolved per service rep.', 'requests per rep', 'DERIVED', 'HIGHER', 1, true);

insert into metric_formula_term (metric_key, side, position, term_metric_key, coefficient) values
    ('engagement_rate', 'NUMERATOR', 0, 'likes', 1),
    ('engagement_rate', 'NUMERATOR', 1, 'comments', 1),
    ('engagement_rate', 'NUMERATOR', 2, 'shares', 1),
    ('engagement_rate', 'DENOMINATOR', 0, 'followers', 1),
    ('amplification_rate', 'NUMERATOR', 0, 'shares', 1),
    ('amplification_rate', 'DENOMINATOR', 0, 'followers', 1),
    ('applause_rate', 'NUMERATOR', 0, 'likes', 1),
    ('applause_rate', 'DENOMINATOR', 0, 'followers', 1),
    ('conversation_rate', 'NUMERATOR', 0, 'comments', 1),
    ('conversation_rate', 'DENOMINATOR', 0, 'followers', 1),
    ('virality_rate', 'NUMERATOR', 0, 'shares', 1),
    ('virality_rate', 'DENOMINATOR', 0, 'impressions', 1),
    ('click_through_rate', 'NUMERATOR', 0, 'clicks', 1),
    ('click_through_rate', 'DENOMINATOR', 0, 'impressions', 1),
    ('conversion_rate', 'NUMERATOR', 0, 'conversions', 1),
    ('conversion_rate', 'DENOMINATOR', 0, 'clicks', 1),
    ('bounce_rate', 'NUMERATOR', 0, 'bounces', 1),
    ('bounce_rate', 'DENOMINATOR', 0, 'sessions', 1),
    ('audience_growth_rate', 'NUMERATOR', 0, 'new_followers', 1),
    ('audience_growth_rate', 'DENOMINATOR', 0, 'followers', 1),
    ('share_of_voice', 'NUMERATOR', 0, 'mentions', 1),
    ('share_of_voice', 'DENOMINATOR', 0, 'mentions', 1),
    ('share_of_voice', 'DENOMINATOR', 1, 'competitor_mentions', 1),
    ('sentiment_score', 'NUMERATOR', 0, 'positive_mentions', 1),
    ('sentiment_score', 'DENOMINATOR', 0, 'positive_mentions', 1),
    ('sentiment_score', 'DENOMINATOR', 1, 'negative_mentions', 1),
    ('net_promoter_score', 'NUMERATOR', 0, 'promoters', 1),
    ('net_promoter_score', 'NUMERATOR', 1, 'detractors', -1),
    ('net_promoter_score', 'DENOMINATOR', 0, 'nps_responses', 1),
    ('customer_satisfaction_score', 'NUMERATOR', 0, 'csat_satisfied', 1),
    ('customer_satisfaction_score', 'DENOMINATOR', 0, 'csat_responses', 1),
    ('cost_per_click', 'NUMERATOR', 0, 'ad_spend', 1),
    ('cost_per_click', 'DENOMINATOR', 0, 'clicks', 1),
    ('cost_per_mille', 'NUMERATOR', 0, 'ad_spend', 1),
    ('cost_per_mille', 'DENOMINATOR', 0, 'impressions', 1),
    ('requests_per_rep', 'NUMERATOR', 0, 'service_requests_resolved', 1),
    ('requests_per_rep', 'DENOMINATOR', 0, 'service_reps', 1);
