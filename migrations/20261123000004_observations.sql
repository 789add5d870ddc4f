-- Observations and their daily rollups (DESIGN §4). Observations are the
-- large table: narrow rows keyed by (series, time), partitioned by month of
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

-- Creates the monthly partitions covering the given months (any timestamp
-- within each month) that do not exist yet. Writers call it in its own short
-- transaction before loading, so a long load never holds the parent table's
-- lock.
create function ensure_observation_partitions(months timestamptz[]) returns void
language plpgsql as $$
declare
    month_start timestamp;
    partition_name text;
begin
    -- Serialise creators: two writers may want the same new month.
    perform pg_advisory_xact_lock(hashtext('goalpost.observation_partitions'));
    foreach month_start in array (
        select array_agg(distinct date_trunc('month', m at time zone 'UTC')) from unnest(months) as m
    ) loop
        partition_name := format('observation_%s', to_char(month_start, 'YYYY_MM'));
        if to_regclass(partition_name) is null then
            execute format(
                'create table %I partition of observation for values from (%L) to (%L)',
                partition_name,
                (month_start at time zone 'UTC'),
                ((month_start + interval '1 month') at time zone 'UTC')
            );
        end if;
    end loop;
end
$$;
