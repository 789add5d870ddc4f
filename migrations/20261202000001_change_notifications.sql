-- Change notifications (DESIGN §6): every write that can move a goal's
-- progress announces itself on the channel `goalpost_changes`, so each
-- replica's WatchGoalProgress streams and snapshot recorder hear writes
-- taken by any replica. NOTIFY is transactional: listeners hear a change
-- only once it commits, and never one that rolled back. PostgreSQL folds
-- identical notifications of one transaction into one, so a transaction
-- touching many rows of a goal announces that goal once.
--
-- Payloads are plain text (see src/changes/mod.rs for the parser):
--   `goal <goal uuid>`                       a goal, its key results, their
--                                            accounts, checkpoints or
--                                            milestones changed;
--   `observations <metric key> <accounts>`   observations of one metric were
--                                            written; accounts are account
--                                            uuids and `-` for the
--                                            organisation-wide series, or `*`
--                                            for too many to list.
-- Observations are announced by the ingest code, once per load and metric,
-- not by a trigger: a row trigger would cost every row of a bulk load.

create function notify_goal_change(goal_id uuid) returns void
language sql as $$
    select pg_notify('goalpost_changes', 'goal ' || goal_id::text)
$$;

create function goal_changed() returns trigger
language plpgsql as $$
begin
    perform notify_goal_change(coalesce(new.goal_id, old.goal_id));
    return null;
end
$$;

-- Rows that hang off a key result name their goal through it. When a key
-- result is deleted its children cascade after it is gone; the key result's
-- own trigger has announced the goal already.
create function key_result_part_changed() returns trigger
language plpgsql as $$
declare
    owner uuid;
begin
    select k.goal_id into owner from key_result k
    where k.key_result_id = coalesce(new.key_result_id, old.key_result_id);
    if owner is not null then
        perform notify_goal_change(owner);
    end if;
    return null;
end
$$;

create trigger goal_announce_change after insert or update or delete on goal
    for each row execute function goal_changed();
create trigger key_result_announce_change after insert or update or delete on key_result
    for each row execute function goal_changed();
create trigger key_result_account_announce_change after insert or update or delete on key_result_account
    for each row execute function key_result_part_changed();
create trigger key_result_checkpoint_announce_change after insert or update or delete on key_result_checkpoint
    for each row execute function key_result_part_changed();
create trigger milestone_announce_change after insert or update or delete on milestone
    for each row execute function key_result_part_changed();
