-- ListObservations walks series in (metric_key, account) order, the
-- organisation-wide series (no account) first as the nil UUID, and reads
-- each series' rows through the observation primary key. This index serves
-- that walk and its keyset start, so a page never sorts every series.
create index series_list_order_idx
    on series (metric_key, (coalesce(account_id, '00000000-0000-0000-0000-000000000000'::uuid)));
