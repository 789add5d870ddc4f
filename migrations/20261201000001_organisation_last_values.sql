-- What the organisation-level daily rollups need to answer LAST and "when
-- was this last observed" over every account without visiting each series
-- (DESIGN §4, "LAST across many accounts"):
--
-- * last_sum: the day's last values of every series observed that day,
--   added up.
-- * departures: how many series were observed the day before and not on
--   this day. A window of whole days [a, e) where no day after a has a
--   departure holds no series that went quiet before its last day, so every
--   series' latest value in the window is its value on day e − 1, and LAST
--   over every account is last_sum of that day: one row, not one probe per
--   series. Observations are never deleted, so a series' days only ever
--   appear; each write recomputes departures of the days it touched and of
--   the days after them while holding those days' rows.
-- * last_observed_at: the newest observation of the day, so a window that
--   ends after it can take that whole day from the rollup, and the newest
--   observation before a moment needs no raw read.
alter table observation_daily_organisation
    add column last_sum double precision not null default 0,
    add column departures bigint not null default 0,
    add column last_observed_at timestamptz not null default '-infinity';

update observation_daily_organisation g
set last_sum = v.last_sum, last_observed_at = v.last_observed_at
from (
    select s.metric_key, d.day, sum(d.last_value) as last_sum,
           max(d.last_observed_at) as last_observed_at
    from observation_daily d
    join series s using (series_id)
    group by s.metric_key, d.day
) v
where g.metric_key = v.metric_key and g.day = v.day;

update observation_daily_organisation g
set departures = v.departures
from (
    select s.metric_key, d.day + 1 as day, count(*) as departures
    from observation_daily d
    join series s using (series_id)
    where not exists (
        select 1 from observation_daily n where n.series_id = d.series_id and n.day = d.day + 1
    )
    group by s.metric_key, d.day + 1
) v
where g.metric_key = v.metric_key and g.day = v.day;
