-- Every observation carries its metric's small number, indexed with its
-- time, so the raw rows of one metric over every account in a time range
-- (a window's partial day at its edge) are one index range scan instead
-- of one probe per series (DESIGN §4: cost follows days, not accounts).
-- A smallint fills padding the row already has, so rows stay as wide.

alter table metric_definition add column metric_id smallint generated always as identity;
alter table metric_definition add constraint metric_definition_metric_id_key unique (metric_id);

alter table series add column metric_id smallint;
update series s set metric_id = m.metric_id
from metric_definition m
where m.metric_key = s.metric_key;
alter table series alter column metric_id set not null;

alter table observation add column metric_id smallint;
update observation o set metric_id = s.metric_id
from series s
where s.series_id = o.series_id;
alter table observation alter column metric_id set not null;

-- Covering, so an edge's rows are read from the index alone once vacuum
-- has marked their pages visible.
create index observation_metric_time_idx on observation (metric_id, observed_at)
    include (series_id, value);
