-- Observations and their daily rollups (DESIGN §4). Observations are the
-- large table: narrow rows keyed by (series, time), partitioned by year of
-- observed_at, with no foreign keys so bulk loads are not slowed by per-row
-- checks (series and source ids only ever come from the service). Nothing
-- here is unique across series, so both tables can be distributed by
-- series_id (Citus).

-- Where values came from, such as `facebook-insights` or `audits/{audit}`;
-- observations refer to it by a 4-byte id.
create table observation_source (
    source_id integer generated always as identity primary key,
    name      text not null constraint observation_source_name_key unique
);

insert into observation_source (name) values ('');

-- One series per metric and account; a null account is the
-- organisation-wide series.
create table series (
    series_id  bigint generated always as identity primary key,
    metric_key text not null references metric_definition (metric_key),
    account_id uuid references account (account_id),
    constraint series_metric_account_key unique nulls not distinct (metric_key, account_id)
);

create index series_account_idx on series (account_id);

create table observation (
    series_id   bigint not null,
    observed_at timestamptz not null,
    value       double precision not null,
    recorded_at timestamptz not null default now(),
    source_id   integer not null,
    -- Set when a write replaced an earlier value; lets one upsert tell fresh
    -- rows (merged into rollups incrementally) from replacements (whose days
    -- are recomputed).
    replaced    boolean not null default false,
    primary key (series_id, observed_at)
) partition by range (observed_at);

-- Per series per UTC day: what windows of whole days read instead of rows.
create table observation_daily (
    series_id        bigint not null,
    day              date not null,
    value_sum        double precision not null,
    value_count      bigint not null,
    value_min        double precision not null,
    value_max        double precision not null,
    last_value       double precision not null,
    last_observed_at timestamptz not null,
    primary key (series_id, day)
);

-- Yearly partitions, all created here: accepted timestamps run from 1970 to
-- a day ahead of now, so no write ever creates a partition. Creating one
-- needs an exclusive lock on the parent, which a long load's own lock would
-- block (and which would stall every reader behind it).
do $$
begin
    for year in 1970..2100 loop
        execute format(
            'create table %I partition of observation for values from (%L) to (%L)',
            format('observation_y%s', year),
            make_timestamptz(year, 1, 1, 0, 0, 0, 'UTC'),
            make_timestamptz(year + 1, 1, 1, 0, 0, 0, 'UTC')
        );
    end loop;
end
$$;
