-- The `reporting` schema (DESIGN §4): stable, documented views for BI tools,
-- read by a role that `goalpost bi grant` gives access to this schema alone.
-- The views are the contract with dashboards: columns are only ever added,
-- never renamed or retyped. They use plain SQL types (text, uuid,
-- timestamptz, date, double precision, bigint, boolean), enum values as the
-- API spells them without their prefix (`ACTIVE`, `INSTAGRAM`), resource
-- names as the API shows them (`goals/{goal}`) beside the plain ids, and
-- null where the API leaves a value absent. Metric values by day come from
-- the daily rollups, never from raw observations, so a dashboard's cost
-- follows days, not rows.

-- The goal-type catalog is defined in Rust (src/goals/catalog.rs, what
-- ListGoalTypes answers); these tables mirror it so SQL can join it. The
-- service fills them at start-up (reporting::sync_goal_types); nothing else
-- writes them.
create table goal_type (
    goal_type       text primary key,
    -- The order of the GoalType enum.
    position        integer not null,
    display_name    text not null,
    description     text not null,
    milestone_based boolean not null
);

create table goal_type_metric (
    goal_type  text not null references goal_type (goal_type) on delete cascade,
    position   integer not null,
    metric_key text not null references metric_definition (metric_key),
    primary key (goal_type, position)
);

create table goal_type_milestone (
    goal_type text not null references goal_type (goal_type) on delete cascade,
    position  integer not null,
    title     text not null,
    primary key (goal_type, position)
);

create schema reporting;
comment on schema reporting is
    'Stable, documented views of goalpost''s data for BI tools. Read-only; grant access with `goalpost bi grant --role NAME`.';

-- Accounts and audits ---------------------------------------------------

create view reporting.accounts as
select a.account_id,
       'accounts/' || a.account_id as account_name,
       a.network, a.handle, a.profile_url, a.display_name, a.owner, a.purpose, a.status,
       a.create_time, a.update_time
from account a;

comment on view reporting.accounts is 'Every social account in the inventory, one row per account (AuditService.GetAccount).';
comment on column reporting.accounts.account_id is 'The account''s id (UUID).';
comment on column reporting.accounts.account_name is 'The account''s resource name as the API shows it: accounts/{account_id}.';
comment on column reporting.accounts.network is 'The social network: FACEBOOK, INSTAGRAM, X, LINKEDIN, TIKTOK, YOUTUBE, PINTEREST, SNAPCHAT, THREADS, REDDIT or OTHER.';
comment on column reporting.accounts.handle is 'The account''s handle on its network; unique per network, ignoring case.';
comment on column reporting.accounts.profile_url is 'The URL of the account''s profile page; empty when not recorded.';
comment on column reporting.accounts.display_name is 'A human-friendly label; empty when not recorded.';
comment on column reporting.accounts.owner is 'Who is responsible for the account; empty when nobody is.';
comment on column reporting.accounts.purpose is 'What the account is for; empty when not stated.';
comment on column reporting.accounts.status is 'ACTIVE, DORMANT, IMPOSTOR (someone else''s account posing as the company''s) or RETIRED.';
comment on column reporting.accounts.create_time is 'When the account was registered.';
comment on column reporting.accounts.update_time is 'When the account was last changed.';

create view reporting.audits as
select au.audit_id,
       'audits/' || au.audit_id as audit_name,
       au.title, au.auditor, au.as_of, au.state,
       (select count(*) from audit_entry e where e.audit_id = au.audit_id) as entry_count,
       (select count(*) from audit_finding f where f.audit_id = au.audit_id) as finding_count,
       au.create_time, au.update_time, au.complete_time
from audit au;

comment on view reporting.audits is 'Every audit, one row per audit (AuditService.GetAudit without its entries and findings).';
comment on column reporting.audits.audit_id is 'The audit''s id (UUID).';
comment on column reporting.audits.audit_name is 'The audit''s resource name as the API shows it: audits/{audit_id}.';
comment on column reporting.audits.title is 'The audit''s title.';
comment on column reporting.audits.auditor is 'Who ran the audit; empty when not recorded.';
comment on column reporting.audits.as_of is 'The moment the audit''s metric values describe; completing the audit records them as observations at this time.';
comment on column reporting.audits.state is 'DRAFT (still being edited) or COMPLETED (frozen, with findings).';
comment on column reporting.audits.entry_count is 'How many accounts the audit covers.';
comment on column reporting.audits.finding_count is 'How many findings completing the audit produced; 0 for drafts.';
comment on column reporting.audits.create_time is 'When the audit was created.';
comment on column reporting.audits.update_time is 'When the audit was last changed.';
comment on column reporting.audits.complete_time is 'When the audit was completed; null for drafts.';

create view reporting.audit_entries as
select e.audit_id,
       'audits/' || e.audit_id as audit_name,
       au.as_of as audit_as_of,
       au.state as audit_state,
       e.account_id,
       'accounts/' || e.account_id as account_name,
       a.network, a.handle,
       e.assessment, e.notes,
       array_to_string(e.top_post_urls, E'\n') as top_post_urls,
       cardinality(e.top_post_urls)::bigint as top_post_count
from audit_entry e
join audit au on au.audit_id = e.audit_id
join account a on a.account_id = e.account_id;

comment on view reporting.audit_entries is 'One row per account in an audit: the auditor''s assessment and notes. The entry''s metric values are in reporting.audit_entry_metrics.';
comment on column reporting.audit_entries.audit_id is 'The audit''s id (UUID).';
comment on column reporting.audit_entries.audit_name is 'The audit''s resource name: audits/{audit_id}.';
comment on column reporting.audit_entries.audit_as_of is 'The moment the audit describes.';
comment on column reporting.audit_entries.audit_state is 'The audit''s state: DRAFT or COMPLETED.';
comment on column reporting.audit_entries.account_id is 'The audited account''s id (UUID).';
comment on column reporting.audit_entries.account_name is 'The audited account''s resource name: accounts/{account_id}.';
comment on column reporting.audit_entries.network is 'The audited account''s network.';
comment on column reporting.audit_entries.handle is 'The audited account''s handle.';
comment on column reporting.audit_entries.assessment is 'The auditor''s verdict: PERFORMING_WELL, NEEDS_FOCUS or RETIRE; null when not given.';
comment on column reporting.audit_entries.notes is 'The auditor''s notes; empty when none.';
comment on column reporting.audit_entries.top_post_urls is 'URLs of the account''s best posts, one per line, in the order given; empty when none.';
comment on column reporting.audit_entries.top_post_count is 'How many top post URLs the entry lists.';

create view reporting.audit_entry_metrics as
select m.audit_id,
       'audits/' || m.audit_id as audit_name,
       au.as_of as audit_as_of,
       m.account_id,
       'accounts/' || m.account_id as account_name,
       a.network, a.handle,
       m.metric_key,
       m.value
from audit_entry_metric m
join audit au on au.audit_id = m.audit_id
join account a on a.account_id = m.account_id;

comment on view reporting.audit_entry_metrics is 'The metric values recorded in audit entries, one row per audit, account and metric (AuditEntry.metrics).';
comment on column reporting.audit_entry_metrics.audit_id is 'The audit''s id (UUID).';
comment on column reporting.audit_entry_metrics.audit_name is 'The audit''s resource name: audits/{audit_id}.';
comment on column reporting.audit_entry_metrics.audit_as_of is 'The moment the audit describes, which the value is as of.';
comment on column reporting.audit_entry_metrics.account_id is 'The audited account''s id (UUID).';
comment on column reporting.audit_entry_metrics.account_name is 'The audited account''s resource name: accounts/{account_id}.';
comment on column reporting.audit_entry_metrics.network is 'The audited account''s network.';
comment on column reporting.audit_entry_metrics.handle is 'The audited account''s handle.';
comment on column reporting.audit_entry_metrics.metric_key is 'The metric''s key in the catalog (reporting.metrics), base or derived.';
comment on column reporting.audit_entry_metrics.value is 'The account''s value of the metric as of the audit, in the metric''s unit.';

create view reporting.audit_findings as
select f.audit_id,
       'audits/' || f.audit_id as audit_name,
       f.position::bigint as position,
       f.kind,
       f.account_id,
       'accounts/' || f.account_id as account_name,
       a.network, a.handle,
       f.metric_key, f.value, f.description
from audit_finding f
join account a on a.account_id = f.account_id;

comment on view reporting.audit_findings is 'What completing an audit found: the top and bottom performer of each metric present in three or more entries, and accounts without an owner or purpose or marked as impostors.';
comment on column reporting.audit_findings.audit_id is 'The audit''s id (UUID).';
comment on column reporting.audit_findings.audit_name is 'The audit''s resource name: audits/{audit_id}.';
comment on column reporting.audit_findings.position is 'Orders the findings of an audit as GetAudit lists them.';
comment on column reporting.audit_findings.kind is 'TOP_PERFORMER, BOTTOM_PERFORMER, MISSING_OWNER, MISSING_PURPOSE or IMPOSTOR.';
comment on column reporting.audit_findings.account_id is 'The id (UUID) of the account the finding is about.';
comment on column reporting.audit_findings.account_name is 'The resource name of the account the finding is about: accounts/{account_id}.';
comment on column reporting.audit_findings.network is 'That account''s network.';
comment on column reporting.audit_findings.handle is 'That account''s handle.';
comment on column reporting.audit_findings.metric_key is 'The metric compared, for top and bottom performers; null otherwise.';
comment on column reporting.audit_findings.value is 'The account''s value of that metric, for top and bottom performers; null otherwise.';
comment on column reporting.audit_findings.description is 'The finding in words.';

-- The metric catalog ------------------------------------------------------

create view reporting.metrics as
select m.metric_key,
       'metrics/' || m.metric_key as metric_name,
       m.display_name, m.description, m.unit, m.kind, m.aggregation, m.better, m.scale, m.builtin,
       m.create_time
from metric_definition m;

comment on view reporting.metrics is 'The metric catalog (MetricService.ListMetricDefinitions): built-in and custom metrics, base and derived.';
comment on column reporting.metrics.metric_key is 'The metric''s key, such as likes or engagement_rate.';
comment on column reporting.metrics.metric_name is 'The metric''s resource name as the API shows it: metrics/{metric_key}.';
comment on column reporting.metrics.display_name is 'A human-friendly label.';
comment on column reporting.metrics.description is 'What the metric measures.';
comment on column reporting.metrics.unit is 'The unit of its values, such as count, percent or currency.';
comment on column reporting.metrics.kind is 'BASE (observed directly) or DERIVED (computed from base metrics by a formula, see reporting.metric_formula_terms).';
comment on column reporting.metrics.aggregation is 'How a base metric aggregates over a time window and accounts: SUM, LAST (each account''s latest value, added across accounts), AVG, MIN or MAX; null for derived metrics.';
comment on column reporting.metrics.better is 'Which direction is an improvement: HIGHER or LOWER.';
comment on column reporting.metrics.scale is 'A derived metric''s factor: value = scale × Σ numerator terms / Σ denominator terms; null for base metrics.';
comment on column reporting.metrics.builtin is 'Whether the metric ships with goalpost (true) or was added by a caller (false).';
comment on column reporting.metrics.create_time is 'When the metric was added to the catalog.';

create view reporting.metric_formula_terms as
select t.metric_key, t.side, t.position::bigint as position, t.term_metric_key, t.coefficient
from metric_formula_term t;

comment on view reporting.metric_formula_terms is 'The terms of each derived metric''s formula, value = scale × Σ(coefficient × numerator term) / Σ(coefficient × denominator term), where each term is a base metric aggregated over the window.';
comment on column reporting.metric_formula_terms.metric_key is 'The derived metric the term belongs to.';
comment on column reporting.metric_formula_terms.side is 'NUMERATOR or DENOMINATOR.';
comment on column reporting.metric_formula_terms.position is 'Orders the terms of one side of the formula.';
comment on column reporting.metric_formula_terms.term_metric_key is 'The base metric the term reads.';
comment on column reporting.metric_formula_terms.coefficient is 'What the term''s aggregated value is multiplied by (−1 subtracts it, as detractors in net_promoter_score).';

-- Goals and key results ---------------------------------------------------

create view reporting.goals as
select g.goal_id,
       'goals/' || g.goal_id as goal_name,
       g.title, g.description, g.goal_type, g.framework, g.state, g.owner, g.team,
       g.parent_goal_id,
       'goals/' || g.parent_goal_id as parent_goal_name,
       g.business_objective, g.start_time, g.deadline,
       coalesce(g.success_threshold, case g.framework when 'OKR' then 0.7 else 1.0 end)
           as success_threshold,
       g.success_threshold is not null as success_threshold_overridden,
       (select count(*) from key_result k where k.goal_id = g.goal_id) as key_result_count,
       g.close_time, g.final_score, g.final_status, g.final_grade,
       g.create_time, g.update_time
from goal g;

comment on view reporting.goals is 'Every goal, one row per goal (GoalService.GetGoal without its key results, which are in reporting.key_results).';
comment on column reporting.goals.goal_id is 'The goal''s id (UUID).';
comment on column reporting.goals.goal_name is 'The goal''s resource name as the API shows it: goals/{goal_id}.';
comment on column reporting.goals.title is 'The goal''s title.';
comment on column reporting.goals.description is 'The goal''s longer description; empty when none.';
comment on column reporting.goals.goal_type is 'One of the ten goal types (reporting.goal_types), such as BRAND_AWARENESS.';
comment on column reporting.goals.framework is 'SMART (success = the target reached by the deadline) or OKR (a stretch goal graded 0 to 1).';
comment on column reporting.goals.state is 'DRAFT (being framed), ACTIVE (measured) or CLOSED (final result recorded).';
comment on column reporting.goals.owner is 'Who owns the goal; empty when not recorded.';
comment on column reporting.goals.team is 'The team the goal belongs to; empty when not recorded.';
comment on column reporting.goals.parent_goal_id is 'The id of the goal this one is aligned to; null when none.';
comment on column reporting.goals.parent_goal_name is 'The resource name of the goal this one is aligned to: goals/{parent_goal_id}; null when none.';
comment on column reporting.goals.business_objective is 'The business objective the goal serves (the R of SMART); empty when not stated.';
comment on column reporting.goals.start_time is 'When the goal''s time frame starts; null for drafts not yet framed.';
comment on column reporting.goals.deadline is 'When the goal''s time frame ends; null for drafts not yet framed.';
comment on column reporting.goals.success_threshold is 'The score that counts as success: the goal''s own, else 1.0 for SMART and 0.7 for OKR.';
comment on column reporting.goals.success_threshold_overridden is 'Whether the goal sets its own success threshold (true) or uses its framework''s default (false; GetGoal then leaves it absent).';
comment on column reporting.goals.key_result_count is 'How many key results the goal has.';
comment on column reporting.goals.close_time is 'When the goal was closed (the moment its final result was evaluated at); null unless closed.';
comment on column reporting.goals.final_score is 'The goal''s score when it was closed; null unless closed.';
comment on column reporting.goals.final_status is 'The goal''s status when it was closed, ACHIEVED or MISSED usually; null unless closed.';
comment on column reporting.goals.final_grade is 'The goal''s grade when it was closed: RED, YELLOW or GREEN; null unless closed.';
comment on column reporting.goals.create_time is 'When the goal was created.';
comment on column reporting.goals.update_time is 'When the goal was last changed.';

create view reporting.key_results as
select k.key_result_id,
       'goals/' || k.goal_id || '/keyResults/' || k.key_result_id as key_result_name,
       k.goal_id,
       'goals/' || k.goal_id as goal_name,
       k.position::bigint as position,
       k.title, k.kind, k.weight, k.metric_key,
       k.kind = 'METRIC' and not exists (
           select 1 from key_result_account ka where ka.key_result_id = k.key_result_id
       ) as all_accounts,
       (select count(*) from key_result_account ka where ka.key_result_id = k.key_result_id)
           as account_count,
       case when k.kind = 'METRIC' then k.window_days::bigint end as window_days,
       k.target_mode, k.baseline_value, k.baseline_start, k.baseline_end,
       k.target_value, k.target_change_percent,
       (select count(*) from key_result_checkpoint c where c.key_result_id = k.key_result_id)
           as checkpoint_count,
       case when k.kind = 'MILESTONE' then
           (select count(*) from milestone m where m.key_result_id = k.key_result_id)
       end as milestone_count,
       case when k.kind = 'MILESTONE' then
           (select count(*) from milestone m
            where m.key_result_id = k.key_result_id and m.done_time is not null)
       end as milestones_done,
       k.create_time, k.update_time
from key_result k;

comment on view reporting.key_results is 'Every key result, one row per key result (GoalService.GetKeyResult). Its accounts, checkpoints and milestones are in reporting.key_result_accounts, reporting.key_result_checkpoints and reporting.milestones.';
comment on column reporting.key_results.key_result_id is 'The key result''s id (UUID).';
comment on column reporting.key_results.key_result_name is 'The key result''s resource name as the API shows it: goals/{goal_id}/keyResults/{key_result_id}.';
comment on column reporting.key_results.goal_id is 'The id of the goal the key result belongs to.';
comment on column reporting.key_results.goal_name is 'The resource name of that goal: goals/{goal_id}.';
comment on column reporting.key_results.position is 'Orders the key results of a goal as GetGoal lists them (creation order; numbers of deleted key results leave gaps).';
comment on column reporting.key_results.title is 'The key result''s title.';
comment on column reporting.key_results.kind is 'METRIC (a metric moves from a baseline to a target) or MILESTONE (a list of steps to complete).';
comment on column reporting.key_results.weight is 'The key result''s weight in its goal''s score, a weighted mean of its key results'' scores.';
comment on column reporting.key_results.metric_key is 'The metric a METRIC key result measures (reporting.metrics); null for milestones.';
comment on column reporting.key_results.all_accounts is 'For METRIC key results, whether every account and the organisation-wide series count (no accounts listed); false for milestones.';
comment on column reporting.key_results.account_count is 'How many accounts the key result lists (the organisation-wide series counts as one); 0 means every account for METRIC key results.';
comment on column reporting.key_results.window_days is 'The trailing window in days the metric is aggregated over, ending at the moment evaluated; 0 means cumulative since the goal''s start; null for milestones.';
comment on column reporting.key_results.target_mode is 'REACH (progress from baseline to target), AT_LEAST or AT_MOST (scores 1 while the current value meets the target, else 0); null for milestones.';
comment on column reporting.key_results.baseline_value is 'The explicit baseline; null when the baseline is measured (over baseline_start to baseline_end, or the window ending at the goal''s start).';
comment on column reporting.key_results.baseline_start is 'The start of the period the baseline is measured over; null when not set.';
comment on column reporting.key_results.baseline_end is 'The end of the period the baseline is measured over; null when not set.';
comment on column reporting.key_results.target_value is 'The explicit target; null when the target is a change from the baseline (target_change_percent).';
comment on column reporting.key_results.target_change_percent is 'The target as a change of the baseline in percent (−20 = 20 % lower); null when target_value is set.';
comment on column reporting.key_results.checkpoint_count is 'How many interim targets the key result has.';
comment on column reporting.key_results.milestone_count is 'How many steps a MILESTONE key result has; null for metric key results.';
comment on column reporting.key_results.milestones_done is 'How many of those steps are done; null for metric key results.';
comment on column reporting.key_results.create_time is 'When the key result was created.';
comment on column reporting.key_results.update_time is 'When the key result was last changed.';

create view reporting.key_result_accounts as
select ka.key_result_id,
       'goals/' || k.goal_id || '/keyResults/' || ka.key_result_id as key_result_name,
       k.goal_id,
       ka.position::bigint as position,
       ka.account_id,
       'accounts/' || ka.account_id as account_name,
       ka.account_id is null as organisation_wide,
       a.network, a.handle
from key_result_account ka
join key_result k on k.key_result_id = ka.key_result_id
left join account a on a.account_id = ka.account_id;

comment on view reporting.key_result_accounts is 'The accounts each METRIC key result measures, in the order given (KeyResult.accounts). A key result without rows here measures every account and the organisation-wide series.';
comment on column reporting.key_result_accounts.key_result_id is 'The key result''s id (UUID).';
comment on column reporting.key_result_accounts.key_result_name is 'The key result''s resource name: goals/{goal_id}/keyResults/{key_result_id}.';
comment on column reporting.key_result_accounts.goal_id is 'The id of the key result''s goal.';
comment on column reporting.key_result_accounts.position is 'Orders the accounts as the key result lists them.';
comment on column reporting.key_result_accounts.account_id is 'The account''s id; null for the organisation-wide series (values not tied to one account).';
comment on column reporting.key_result_accounts.account_name is 'The account''s resource name: accounts/{account_id}; null for the organisation-wide series.';
comment on column reporting.key_result_accounts.organisation_wide is 'Whether this row is the organisation-wide series rather than an account.';
comment on column reporting.key_result_accounts.network is 'The account''s network; null for the organisation-wide series.';
comment on column reporting.key_result_accounts.handle is 'The account''s handle; null for the organisation-wide series.';

create view reporting.key_result_checkpoints as
select c.key_result_id,
       'goals/' || k.goal_id || '/keyResults/' || c.key_result_id as key_result_name,
       k.goal_id,
       c.time as checkpoint_time,
       c.target_value
from key_result_checkpoint c
join key_result k on k.key_result_id = c.key_result_id;

comment on view reporting.key_result_checkpoints is 'Interim targets of metric key results (KeyResult.checkpoints): the expected value runs in straight lines from (start, baseline) through each checkpoint to (deadline, target).';
comment on column reporting.key_result_checkpoints.key_result_id is 'The key result''s id (UUID).';
comment on column reporting.key_result_checkpoints.key_result_name is 'The key result''s resource name: goals/{goal_id}/keyResults/{key_result_id}.';
comment on column reporting.key_result_checkpoints.goal_id is 'The id of the key result''s goal.';
comment on column reporting.key_result_checkpoints.checkpoint_time is 'The moment of the interim target.';
comment on column reporting.key_result_checkpoints.target_value is 'The value the metric should have reached by then.';

create view reporting.milestones as
select m.milestone_id,
       m.key_result_id,
       'goals/' || k.goal_id || '/keyResults/' || m.key_result_id as key_result_name,
       k.goal_id,
       'goals/' || k.goal_id as goal_name,
       m.position::bigint as position,
       m.title,
       m.done_time is not null as done,
       m.done_time
from milestone m
join key_result k on k.key_result_id = m.key_result_id;

comment on view reporting.milestones is 'The steps of MILESTONE key results (KeyResult.milestones), such as "write a social media policy".';
comment on column reporting.milestones.milestone_id is 'The step''s id (UUID), stable when the list is edited.';
comment on column reporting.milestones.key_result_id is 'The id of the key result the step belongs to.';
comment on column reporting.milestones.key_result_name is 'That key result''s resource name: goals/{goal_id}/keyResults/{key_result_id}.';
comment on column reporting.milestones.goal_id is 'The id of the key result''s goal.';
comment on column reporting.milestones.goal_name is 'The resource name of the key result''s goal: goals/{goal_id}.';
comment on column reporting.milestones.position is 'Orders the steps as the key result lists them.';
comment on column reporting.milestones.title is 'What the step is.';
comment on column reporting.milestones.done is 'Whether the step is done.';
comment on column reporting.milestones.done_time is 'When the step was done; null while it is not.';

-- Metric values by day, from the daily rollups ----------------------------

-- A base metric's value over one UTC day, aggregated as the catalog says
-- (DESIGN §1); the same expression serves the views below.
create view reporting.observations_daily as
select d.day,
       s.metric_key,
       'metrics/' || s.metric_key as metric_name,
       s.account_id,
       'accounts/' || s.account_id as account_name,
       s.account_id is null as organisation_wide,
       a.network, a.handle,
       m.aggregation,
       case m.aggregation
           when 'SUM' then d.value_sum
           when 'LAST' then d.last_value
           when 'AVG' then d.value_sum / d.value_count
           when 'MIN' then d.value_min
           when 'MAX' then d.value_max
       end as value,
       d.value_sum, d.value_count, d.value_min, d.value_max, d.last_value,
       d.first_observed_at, d.last_observed_at
from observation_daily d
join series s on s.series_id = d.series_id
join metric_definition m on m.metric_key = s.metric_key
left join account a on a.account_id = s.account_id;

comment on view reporting.observations_daily is 'Base metric values per UTC day, metric and account (or the organisation-wide series), from the daily rollups; one row per day that has observations. value equals QueryMetric with interval DAY for that one account. To aggregate over longer periods or many accounts, add value_sum for SUM metrics; for LAST metrics take each account''s last_value of its latest day in the period, then add those across accounts.';
comment on column reporting.observations_daily.day is 'The UTC day.';
comment on column reporting.observations_daily.metric_key is 'The base metric''s key (reporting.metrics).';
comment on column reporting.observations_daily.metric_name is 'The metric''s resource name: metrics/{metric_key}.';
comment on column reporting.observations_daily.account_id is 'The account''s id; null for the organisation-wide series (values not tied to one account).';
comment on column reporting.observations_daily.account_name is 'The account''s resource name: accounts/{account_id}; null for the organisation-wide series.';
comment on column reporting.observations_daily.organisation_wide is 'Whether the row is the organisation-wide series rather than an account''s.';
comment on column reporting.observations_daily.network is 'The account''s network; null for the organisation-wide series.';
comment on column reporting.observations_daily.handle is 'The account''s handle; null for the organisation-wide series.';
comment on column reporting.observations_daily.aggregation is 'How the metric aggregates: SUM, LAST, AVG, MIN or MAX.';
comment on column reporting.observations_daily.value is 'The day''s value aggregated as the metric says: the sum, the last value, the mean, the minimum or the maximum of the day''s observations.';
comment on column reporting.observations_daily.value_sum is 'The sum of the day''s observations.';
comment on column reporting.observations_daily.value_count is 'How many observations the day has.';
comment on column reporting.observations_daily.value_min is 'The smallest of the day''s observations.';
comment on column reporting.observations_daily.value_max is 'The largest of the day''s observations.';
comment on column reporting.observations_daily.last_value is 'The day''s latest observation.';
comment on column reporting.observations_daily.first_observed_at is 'When the day''s earliest observation was made.';
comment on column reporting.observations_daily.last_observed_at is 'When the day''s latest observation was made.';

create view reporting.observations_daily_all_accounts as
select g.day,
       g.metric_key,
       'metrics/' || g.metric_key as metric_name,
       m.aggregation,
       case m.aggregation
           when 'SUM' then g.value_sum
           when 'LAST' then g.last_sum
           when 'AVG' then g.value_sum / g.value_count
           when 'MIN' then g.value_min
           when 'MAX' then g.value_max
       end as value,
       g.value_sum, g.value_count, g.value_min, g.value_max,
       g.last_sum as last_value_sum,
       g.first_observed_at, g.last_observed_at
from observation_daily_organisation g
join metric_definition m on m.metric_key = g.metric_key;

comment on view reporting.observations_daily_all_accounts is 'Base metric values per UTC day over every account and the organisation-wide series together, from the organisation-level daily rollups; one row per metric and day that has observations. value equals QueryMetric with interval DAY and no accounts.';
comment on column reporting.observations_daily_all_accounts.day is 'The UTC day.';
comment on column reporting.observations_daily_all_accounts.metric_key is 'The base metric''s key (reporting.metrics).';
comment on column reporting.observations_daily_all_accounts.metric_name is 'The metric''s resource name: metrics/{metric_key}.';
comment on column reporting.observations_daily_all_accounts.aggregation is 'How the metric aggregates: SUM, LAST, AVG, MIN or MAX.';
comment on column reporting.observations_daily_all_accounts.value is 'The day''s value over every account: the sum of every observation (SUM), the sum of each series'' last value of the day (LAST), or the mean, minimum or maximum of every observation (AVG, MIN, MAX).';
comment on column reporting.observations_daily_all_accounts.value_sum is 'The sum of the day''s observations of every series.';
comment on column reporting.observations_daily_all_accounts.value_count is 'How many observations the day has across every series.';
comment on column reporting.observations_daily_all_accounts.value_min is 'The smallest of the day''s observations.';
comment on column reporting.observations_daily_all_accounts.value_max is 'The largest of the day''s observations.';
comment on column reporting.observations_daily_all_accounts.last_value_sum is 'The sum over the series observed that day of each one''s latest value of the day.';
comment on column reporting.observations_daily_all_accounts.first_observed_at is 'When the day''s earliest observation of any series was made.';
comment on column reporting.observations_daily_all_accounts.last_observed_at is 'When the day''s latest observation of any series was made.';

-- Derived metrics by day: scale × Σ numerator terms / Σ denominator terms,
-- each term its base metric aggregated over the day (DESIGN §1). A side with
-- no observation of any of its terms has no data (sum() over no rows is
-- null); a term without data beside one with data counts as 0 (it adds no
-- row); a zero denominator has no data. Rows exist for days where any term
-- has data, with a null value where the formula has none, so a chart shows
-- the gap instead of a silent 0.
create view reporting.derived_metrics_daily as
with term_values as (
    select t.metric_key, t.side, s.account_id, d.day,
           t.coefficient * case b.aggregation
               when 'SUM' then d.value_sum
               when 'LAST' then d.last_value
               when 'AVG' then d.value_sum / d.value_count
               when 'MIN' then d.value_min
               when 'MAX' then d.value_max
           end as value
    from metric_formula_term t
    join metric_definition b on b.metric_key = t.term_metric_key
    join series s on s.metric_key = t.term_metric_key
    join observation_daily d on d.series_id = s.series_id
), sides as (
    select metric_key, account_id, day,
           sum(value) filter (where side = 'NUMERATOR') as numerator,
           sum(value) filter (where side = 'DENOMINATOR') as denominator
    from term_values
    group by metric_key, account_id, day
)
select x.day,
       x.metric_key,
       'metrics/' || x.metric_key as metric_name,
       x.account_id,
       'accounts/' || x.account_id as account_name,
       x.account_id is null as organisation_wide,
       a.network, a.handle,
       case when x.numerator is not null and x.denominator <> 0
           then m.scale * x.numerator / x.denominator
       end as value,
       x.numerator, x.denominator, m.scale
from sides x
join metric_definition m on m.metric_key = x.metric_key
left join account a on a.account_id = x.account_id;

comment on view reporting.derived_metrics_daily is 'Derived metric values (such as engagement_rate) per UTC day, metric and account (or the organisation-wide series), computed from the daily rollups with the formula in reporting.metric_formula_terms; one row per day on which any term has observations. value equals QueryMetric of the derived metric with interval DAY for that one account. Never average these values over longer periods: a derived value is a ratio of aggregates, so recompute it from the terms (see reporting.observations_daily).';
comment on column reporting.derived_metrics_daily.day is 'The UTC day.';
comment on column reporting.derived_metrics_daily.metric_key is 'The derived metric''s key (reporting.metrics).';
comment on column reporting.derived_metrics_daily.metric_name is 'The metric''s resource name: metrics/{metric_key}.';
comment on column reporting.derived_metrics_daily.account_id is 'The account''s id; null for the organisation-wide series.';
comment on column reporting.derived_metrics_daily.account_name is 'The account''s resource name: accounts/{account_id}; null for the organisation-wide series.';
comment on column reporting.derived_metrics_daily.organisation_wide is 'Whether the row is the organisation-wide series rather than an account''s.';
comment on column reporting.derived_metrics_daily.network is 'The account''s network; null for the organisation-wide series.';
comment on column reporting.derived_metrics_daily.handle is 'The account''s handle; null for the organisation-wide series.';
comment on column reporting.derived_metrics_daily.value is 'scale × numerator / denominator; null (no data, not zero) when the numerator''s terms have no observation that day, when the denominator''s have none, or when the denominator is 0.';
comment on column reporting.derived_metrics_daily.numerator is 'Σ coefficient × the day''s aggregated value of each numerator term; null when none of them was observed that day.';
comment on column reporting.derived_metrics_daily.denominator is 'Σ coefficient × the day''s aggregated value of each denominator term; null when none of them was observed that day.';
comment on column reporting.derived_metrics_daily.scale is 'The formula''s factor, such as 100 for percentages.';

create view reporting.derived_metrics_daily_all_accounts as
with term_values as (
    select t.metric_key, t.side, g.day,
           t.coefficient * case b.aggregation
               when 'SUM' then g.value_sum
               when 'LAST' then g.last_sum
               when 'AVG' then g.value_sum / g.value_count
               when 'MIN' then g.value_min
               when 'MAX' then g.value_max
           end as value
    from metric_formula_term t
    join metric_definition b on b.metric_key = t.term_metric_key
    join observation_daily_organisation g on g.metric_key = t.term_metric_key
), sides as (
    select metric_key, day,
           sum(value) filter (where side = 'NUMERATOR') as numerator,
           sum(value) filter (where side = 'DENOMINATOR') as denominator
    from term_values
    group by metric_key, day
)
select x.day,
       x.metric_key,
       'metrics/' || x.metric_key as metric_name,
       case when x.numerator is not null and x.denominator <> 0
           then m.scale * x.numerator / x.denominator
       end as value,
       x.numerator, x.denominator, m.scale
from sides x
join metric_definition m on m.metric_key = x.metric_key;

comment on view reporting.derived_metrics_daily_all_accounts is 'Derived metric values per UTC day over every account and the organisation-wide series together, each term aggregated over all of them first (LAST terms: each series'' last value of the day, added up), then combined by the formula; one row per metric and day on which any term has observations. value equals QueryMetric of the derived metric with interval DAY and no accounts.';
comment on column reporting.derived_metrics_daily_all_accounts.day is 'The UTC day.';
comment on column reporting.derived_metrics_daily_all_accounts.metric_key is 'The derived metric''s key (reporting.metrics).';
comment on column reporting.derived_metrics_daily_all_accounts.metric_name is 'The metric''s resource name: metrics/{metric_key}.';
comment on column reporting.derived_metrics_daily_all_accounts.value is 'scale × numerator / denominator; null (no data, not zero) when either side''s terms have no observation that day or the denominator is 0.';
comment on column reporting.derived_metrics_daily_all_accounts.numerator is 'Σ coefficient × the day''s value of each numerator term over every account; null when none of them was observed that day.';
comment on column reporting.derived_metrics_daily_all_accounts.denominator is 'Σ coefficient × the day''s value of each denominator term over every account; null when none of them was observed that day.';
comment on column reporting.derived_metrics_daily_all_accounts.scale is 'The formula''s factor, such as 100 for percentages.';

-- Progress snapshots --------------------------------------------------------

create view reporting.goal_progress_snapshots as
select p.goal_id,
       'goals/' || p.goal_id as goal_name,
       g.title as goal_title,
       g.goal_type, g.framework,
       g.state as goal_state,
       g.owner, g.team,
       p.as_of,
       (p.as_of at time zone 'UTC')::date as as_of_date,
       p.reason, p.score, p.expected, p.status, p.grade, p.complete,
       coalesce(g.success_threshold, case g.framework when 'OKR' then 0.7 else 1.0 end)
           as success_threshold,
       p.recorded_at
from progress_snapshot p
join goal g on g.goal_id = p.goal_id;

comment on view reporting.goal_progress_snapshots is 'A goal''s progress as the service computed it at a moment (ProgressService.GetGoalProgress at as_of): one row at every UTC midnight of an active goal''s time frame and one when it closes. Chart a goal''s history from here instead of re-implementing the math.';
comment on column reporting.goal_progress_snapshots.goal_id is 'The goal''s id (UUID).';
comment on column reporting.goal_progress_snapshots.goal_name is 'The goal''s resource name: goals/{goal_id}.';
comment on column reporting.goal_progress_snapshots.goal_title is 'The goal''s title now.';
comment on column reporting.goal_progress_snapshots.goal_type is 'The goal''s type now, such as BRAND_AWARENESS.';
comment on column reporting.goal_progress_snapshots.framework is 'The goal''s framework now: SMART or OKR.';
comment on column reporting.goal_progress_snapshots.goal_state is 'The goal''s state now: ACTIVE or CLOSED (drafts have no snapshots).';
comment on column reporting.goal_progress_snapshots.owner is 'The goal''s owner now; empty when not recorded.';
comment on column reporting.goal_progress_snapshots.team is 'The goal''s team now; empty when not recorded.';
comment on column reporting.goal_progress_snapshots.as_of is 'The moment evaluated: a UTC midnight, or the moment the goal closed.';
comment on column reporting.goal_progress_snapshots.as_of_date is 'The UTC date of as_of, for daily charts.';
comment on column reporting.goal_progress_snapshots.reason is 'Why the snapshot was taken: DAILY (a UTC midnight) or CLOSE (the goal closed).';
comment on column reporting.goal_progress_snapshots.score is 'The goal''s score, 0 to 1: the weighted mean of its key results'' scores.';
comment on column reporting.goal_progress_snapshots.expected is 'The score expected by then, 0 to 1: the elapsed fraction of the goal''s time frame.';
comment on column reporting.goal_progress_snapshots.status is 'NO_DATA, ON_TRACK, AT_RISK, OFF_TRACK, ACHIEVED or MISSED.';
comment on column reporting.goal_progress_snapshots.grade is 'The OKR colour of the score: RED below 0.4, YELLOW below 0.7, GREEN from 0.7.';
comment on column reporting.goal_progress_snapshots.complete is 'Whether every key result had data; false means some scored 0 for lack of data.';
comment on column reporting.goal_progress_snapshots.success_threshold is 'The score that counts as success for the goal now: its own, else 1.0 for SMART and 0.7 for OKR.';
comment on column reporting.goal_progress_snapshots.recorded_at is 'When the snapshot was written; observations that arrived later for the moment are not in it.';

create view reporting.key_result_progress_snapshots as
select s.goal_id,
       'goals/' || s.goal_id as goal_name,
       s.key_result_id,
       'goals/' || s.goal_id || '/keyResults/' || s.key_result_id as key_result_name,
       k.title as key_result_title,
       k.kind, k.metric_key, k.target_mode,
       s.as_of,
       (s.as_of at time zone 'UTC')::date as as_of_date,
       p.reason,
       s.baseline,
       s.current as current_value,
       s.target,
       s.progress, s.score, s.expected,
       s.baseline + s.expected * (s.target - s.baseline) as expected_value,
       s.status
from key_result_progress_snapshot s
join progress_snapshot p on p.goal_id = s.goal_id and p.as_of = s.as_of
join key_result k on k.key_result_id = s.key_result_id;

comment on view reporting.key_result_progress_snapshots is 'Each key result''s progress in a goal progress snapshot (KeyResultProgress in GetGoalProgress at as_of), one row per key result per snapshot.';
comment on column reporting.key_result_progress_snapshots.goal_id is 'The goal''s id (UUID).';
comment on column reporting.key_result_progress_snapshots.goal_name is 'The goal''s resource name: goals/{goal_id}.';
comment on column reporting.key_result_progress_snapshots.key_result_id is 'The key result''s id (UUID).';
comment on column reporting.key_result_progress_snapshots.key_result_name is 'The key result''s resource name: goals/{goal_id}/keyResults/{key_result_id}.';
comment on column reporting.key_result_progress_snapshots.key_result_title is 'The key result''s title now.';
comment on column reporting.key_result_progress_snapshots.kind is 'METRIC or MILESTONE.';
comment on column reporting.key_result_progress_snapshots.metric_key is 'The metric a METRIC key result measures; null for milestones.';
comment on column reporting.key_result_progress_snapshots.target_mode is 'REACH, AT_LEAST or AT_MOST; null for milestones.';
comment on column reporting.key_result_progress_snapshots.as_of is 'The moment evaluated: a UTC midnight, or the moment the goal closed.';
comment on column reporting.key_result_progress_snapshots.as_of_date is 'The UTC date of as_of, for daily charts.';
comment on column reporting.key_result_progress_snapshots.reason is 'Why the snapshot was taken: DAILY or CLOSE.';
comment on column reporting.key_result_progress_snapshots.baseline is 'The baseline value then; null without data.';
comment on column reporting.key_result_progress_snapshots.current_value is 'The metric''s value over the key result''s window ending at as_of; null without data (never a silent 0).';
comment on column reporting.key_result_progress_snapshots.target is 'The target value then; null when it could not be known (a target relative to a baseline without data).';
comment on column reporting.key_result_progress_snapshots.progress is '(current − baseline) / (target − baseline), not clamped: 1.25 is 25 % beyond the target, negative moved the wrong way; null without data.';
comment on column reporting.key_result_progress_snapshots.score is 'The progress clamped to 0..1 (AT_LEAST and AT_MOST: 1 when the target is met, else 0; milestones: the fraction done); null without data.';
comment on column reporting.key_result_progress_snapshots.expected is 'The score expected by then, 0 to 1: the elapsed time fraction, or the progress of the value expected from the checkpoints.';
comment on column reporting.key_result_progress_snapshots.expected_value is 'The value expected by then, baseline + expected × (target − baseline), to chart against current_value; null without baseline or target.';
comment on column reporting.key_result_progress_snapshots.status is 'NO_DATA, ON_TRACK, AT_RISK, OFF_TRACK, ACHIEVED or MISSED.';

-- The goal-type catalog -------------------------------------------------------

create view reporting.goal_types as
select t.goal_type, t.position::bigint as position, t.display_name, t.description, t.milestone_based,
       (select count(*) from goal_type_metric m where m.goal_type = t.goal_type)
           as recommended_metric_count
from goal_type t;

comment on view reporting.goal_types is 'The ten goal types (GoalService.ListGoalTypes), such as BRAND_AWARENESS; their recommended metrics and suggested milestones are in reporting.goal_type_metrics and reporting.goal_type_milestones.';
comment on column reporting.goal_types.goal_type is 'The goal type, as reporting.goals.goal_type holds it.';
comment on column reporting.goal_types.position is 'Orders the types as ListGoalTypes lists them.';
comment on column reporting.goal_types.display_name is 'A human-friendly label.';
comment on column reporting.goal_types.description is 'What goals of this type aim at.';
comment on column reporting.goal_types.milestone_based is 'Whether goals of this type are measured, wholly or partly, by milestones.';
comment on column reporting.goal_types.recommended_metric_count is 'How many metrics are recommended for the type.';

create view reporting.goal_type_metrics as
select gm.goal_type, gm.position::bigint as position, gm.metric_key,
       'metrics/' || gm.metric_key as metric_name,
       m.display_name as metric_display_name,
       m.kind as metric_kind
from goal_type_metric gm
join metric_definition m on m.metric_key = gm.metric_key;

comment on view reporting.goal_type_metrics is 'The metrics recommended for each goal type (GoalTypeDefinition.recommended_metric_keys): the ones that tie social work to the type''s business outcome.';
comment on column reporting.goal_type_metrics.goal_type is 'The goal type.';
comment on column reporting.goal_type_metrics.position is 'Orders the metrics of a type as ListGoalTypes lists them.';
comment on column reporting.goal_type_metrics.metric_key is 'The recommended metric''s key.';
comment on column reporting.goal_type_metrics.metric_name is 'The metric''s resource name: metrics/{metric_key}.';
comment on column reporting.goal_type_metrics.metric_display_name is 'The metric''s human-friendly label.';
comment on column reporting.goal_type_metrics.metric_kind is 'BASE or DERIVED.';

create view reporting.goal_type_milestones as
select gm.goal_type, gm.position::bigint as position, gm.title
from goal_type_milestone gm;

comment on view reporting.goal_type_milestones is 'Typical milestones of the milestone-based goal types (GoalTypeDefinition.suggested_milestones), such as "write a social media policy".';
comment on column reporting.goal_type_milestones.goal_type is 'The goal type.';
comment on column reporting.goal_type_milestones.position is 'Orders the milestones of a type as ListGoalTypes lists them.';
comment on column reporting.goal_type_milestones.title is 'The suggested milestone.';
