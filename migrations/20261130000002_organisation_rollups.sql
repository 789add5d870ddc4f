-- Organisation-level daily rollups (DESIGN §4): per metric and UTC day, the
-- aggregates of every series of the metric together (every account and the
-- organisation-wide series), written in the same transaction as the
-- per-series rollups. "Every account" is the common selection of a key
-- result or a query, and such a window then reads one row per day instead
-- of one per series per day. LAST needs each series' own latest value and
-- is read from the per-series rollups, so only the composable aggregates
-- are kept here.
create table observation_daily_organisation (
    metric_key  text not null,
    day         date not null,
    value_sum   double precision not null,
    value_count bigint not null,
    value_min   double precision not null,
    value_max   double precision not null,
    primary key (metric_key, day)
);

insert into observation_daily_organisation
select s.metric_key, d.day, sum(d.value_sum), sum(d.value_count), min(d.value_min), max(d.value_max)
from observation_daily d
join series s using (series_id)
group by s.metric_key, d.day;
