-- The oldest observation of each day, per series and per metric across
-- every series, beside the newest. A window's edge inside a day that holds
-- nothing of the day before the edge and nothing after it (a step at a
-- midnight cut 1 µs after it, a window ending before the day's first value)
-- is then the whole day or nothing, read from the rollup alone.
alter table observation_daily add column first_observed_at timestamptz;

update observation_daily d set first_observed_at = f.first_observed_at
from (
    select series_id, (observed_at at time zone 'UTC')::date as day, min(observed_at) as first_observed_at
    from observation
    group by 1, 2
) f
where d.series_id = f.series_id and d.day = f.day;

alter table observation_daily alter column first_observed_at set not null;

alter table observation_daily_organisation add column first_observed_at timestamptz;

update observation_daily_organisation g set first_observed_at = f.first_observed_at
from (
    select s.metric_key, d.day, min(d.first_observed_at) as first_observed_at
    from observation_daily d
    join series s using (series_id)
    group by 1, 2
) f
where g.metric_key = f.metric_key and g.day = f.day;

alter table observation_daily_organisation alter column first_observed_at set not null;
