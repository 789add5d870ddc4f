-- Each daily rollup carries its series' metric, indexed with the day, so
-- every series' rollup of one metric on one day is one index range scan,
-- ordered by series, instead of one probe per series. LAST over every
-- account reads it where a window's last day is cut inside the day: each
-- series observed before the cut replaces its value of the day before,
-- and that day is this index's range (DESIGN §4: cost follows days, not
-- accounts). The smallint fills padding the row already has.

alter table observation_daily add column metric_id smallint;

update observation_daily d set metric_id = s.metric_id
from series s
where s.series_id = d.series_id;

alter table observation_daily alter column metric_id set not null;

-- Covering the last value, so the day before a cut is read from the index
-- alone once vacuum has marked the pages visible.
create index observation_daily_metric_day_idx on observation_daily (metric_id, day, series_id)
    include (last_value);
