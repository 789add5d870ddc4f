-- Daily rollups per selection of accounts: what a key result over some
-- accounts reads instead of each account's rollups, one row per day
-- whatever the number of accounts (DESIGN §4: cost follows days, not
-- accounts). Only the composable aggregates (sum, count, min, max and the
-- first and newest times); LAST needs each series' own value and is read
-- from the per-series rollups.
--
-- A selection is registered once, by the service, with its rollups filled
-- from the per-series ones while it holds a SHARE lock on
-- `observation_daily`: no load is folding values into the rollups then,
-- and every load that does so afterwards finds the selection and keeps its
-- rollups too, in the same transaction. So a reader that sees a selection
-- in its snapshot sees its rollups complete; one that does not (a snapshot
-- older than the registration) reads the accounts' own rollups.
create table rollup_selection (
    selection_id integer generated always as identity primary key,
    metric_id    smallint not null references metric_definition (metric_id) on delete cascade,
    -- Sorted, without repeats.
    accounts     uuid[] not null,
    -- Whether the organisation-wide series belongs to it.
    organisation boolean not null,
    create_time  timestamptz not null default now(),
    unique (metric_id, accounts, organisation)
);

-- A selection's series by (metric, account), as a load's deltas meet them;
-- the organisation-wide series is the nil account, as in the series' list
-- order.
create table rollup_selection_member (
    metric_id    smallint not null,
    account_id   uuid not null,
    selection_id integer not null references rollup_selection (selection_id) on delete cascade,
    primary key (metric_id, account_id, selection_id)
);

create index rollup_selection_member_selection_idx on rollup_selection_member (selection_id);

create table observation_daily_selection (
    selection_id      integer not null references rollup_selection (selection_id) on delete cascade,
    day               date not null,
    value_sum         double precision not null,
    value_count       bigint not null,
    value_min         double precision not null,
    value_max         double precision not null,
    last_observed_at  timestamptz not null,
    first_observed_at timestamptz not null,
    primary key (selection_id, day)
);
