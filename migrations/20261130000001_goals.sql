-- Goals and their key results (DESIGN §1, §3 GoalService). Enums are stored
-- as their unprefixed proto names, checked here so a bug in the service can
-- never store a value the readers do not know.

create table goal (
    goal_id            uuid primary key,
    title              text not null check (title <> ''),
    description        text not null default '',
    goal_type          text not null check (goal_type in ('BRAND_AWARENESS', 'BRAND_REPUTATION',
                           'COMMUNITY_ENGAGEMENT', 'CONVERSIONS', 'MARKET_INSIGHTS', 'LEAD_GENERATION',
                           'CUSTOMER_SERVICE', 'RECRUITMENT', 'CRISIS_MANAGEMENT',
                           'INTERNAL_COMMUNICATIONS')),
    framework          text not null check (framework in ('SMART', 'OKR')),
    state              text not null default 'DRAFT' check (state in ('DRAFT', 'ACTIVE', 'CLOSED')),
    owner              text not null default '',
    team               text not null default '',
    -- The goal this one is aligned to. No cascade: a goal that others name as
    -- their parent cannot be deleted. Cycles are refused by the service,
    -- which serialises every parent change (see goals::repo).
    parent_goal_id     uuid references goal (goal_id),
    business_objective text not null default '',
    start_time         timestamptz,
    deadline           timestamptz,
    -- Null: the framework's default (1.0 for SMART, 0.7 for OKR) applies, and
    -- follows the framework if it changes.
    success_threshold  double precision check (success_threshold > 0 and success_threshold <= 1),
    -- Frozen results of a closed goal, filled by the progress engine; null
    -- until then.
    final_score        double precision,
    final_status       text,
    final_grade        text,
    create_time        timestamptz not null default now(),
    update_time        timestamptz not null default now(),
    revision           bigint not null default 1,
    constraint goal_deadline_after_start check (deadline > start_time),
    constraint goal_not_own_parent check (parent_goal_id <> goal_id),
    -- An active or closed goal passed its checks, which need both times.
    constraint goal_framed_once_active check (
        state = 'DRAFT' or (start_time is not null and deadline is not null)
    )
);

create index goal_parent_idx on goal (parent_goal_id);

create trigger goal_bump_revision before update on goal
    for each row execute function bump_revision();

-- A key result measures a metric (metric_key, window, baseline, target) or
-- counts milestones; the columns of the other kind stay empty.
create table key_result (
    key_result_id         uuid primary key,
    goal_id               uuid not null references goal (goal_id) on delete cascade,
    -- Creation order within the goal, assigned under the goal's row lock.
    position              integer not null,
    title                 text not null check (title <> ''),
    kind                  text not null check (kind in ('METRIC', 'MILESTONE')),
    weight                double precision not null default 1 check (weight > 0 and weight <= 1000),
    metric_key            text references metric_definition (metric_key),
    -- 0: cumulative since the goal's start.
    window_days           integer not null default 0 check (window_days between 0 and 3660),
    target_mode           text check (target_mode in ('REACH', 'AT_LEAST', 'AT_MOST')),
    baseline_value        double precision,
    baseline_start        timestamptz,
    baseline_end          timestamptz,
    target_value          double precision,
    target_change_percent double precision check (target_change_percent >= -100),
    create_time           timestamptz not null default now(),
    update_time           timestamptz not null default now(),
    revision              bigint not null default 1,
    unique (goal_id, position),
    constraint key_result_baseline_range check (
        (baseline_start is null) = (baseline_end is null) and baseline_end > baseline_start
    ),
    constraint key_result_kind_shape check (
        (kind = 'METRIC' and metric_key is not null and target_mode is not null
            and (target_value is null) <> (target_change_percent is null))
        or (kind = 'MILESTONE' and metric_key is null and target_mode is null and window_days = 0
            and baseline_value is null and baseline_start is null
            and target_value is null and target_change_percent is null)
    )
);

create trigger key_result_bump_revision before update on key_result
    for each row execute function bump_revision();

-- The accounts a metric key result selects, in the order given; a null
-- account is the organisation-wide series. No rows: every account plus the
-- organisation-wide series. No cascade on the account: an account a key
-- result measures cannot be deleted (DeleteAccount says ACCOUNT_IN_USE).
create table key_result_account (
    key_result_id uuid not null references key_result (key_result_id) on delete cascade,
    position      integer not null,
    account_id    uuid references account (account_id),
    primary key (key_result_id, position)
);

create index key_result_account_account_idx on key_result_account (account_id);

-- Interim targets; one per moment.
create table key_result_checkpoint (
    key_result_id uuid not null references key_result (key_result_id) on delete cascade,
    time          timestamptz not null,
    target_value  double precision not null,
    primary key (key_result_id, time)
);

-- The steps of a milestone key result. Ids survive updates of the list, so a
-- step keeps its done state when others are added, renamed or reordered.
create table milestone (
    milestone_id  uuid primary key,
    key_result_id uuid not null references key_result (key_result_id) on delete cascade,
    position      integer not null,
    title         text not null check (title <> ''),
    done_time     timestamptz,
    unique (key_result_id, position)
);
