-- The metric catalog announces its changes on the change channel too, as
-- `catalog`: replicas keep the catalog in memory for progress and
-- QueryMetric, and forget it when they hear this. The API only ever adds
-- definitions (each replica reloads when it meets a key it does not know),
-- so these triggers are for everything else: a definition edited or removed
-- by hand, or by a later migration. One notification per statement; a
-- transaction's identical notifications fold into one.
create function catalog_changed() returns trigger
language plpgsql as $$
begin
    perform pg_notify('goalpost_changes', 'catalog');
    return null;
end
$$;

create trigger metric_definition_announce_change
    after insert or update or delete or truncate on metric_definition
    for each statement execute function catalog_changed();
create trigger metric_formula_term_announce_change
    after insert or update or delete or truncate on metric_formula_term
    for each statement execute function catalog_changed();
