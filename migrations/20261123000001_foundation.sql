-- Shared machinery: revision bumping for etags, and AIP-155 request ids.

-- Every update of a row that carries an etag bumps its revision and update
-- time, so no code path can change a resource without invalidating etags.
create function bump_revision() returns trigger
language plpgsql as $$
begin
    new.revision := old.revision + 1;
    new.update_time := now();
    return new;
end
$$;

-- One row per create call that carried a request_id: the request as sent (to
-- recognise a true retry) and the response it got (to answer the retry).
create table idempotency_key (
    request_id  uuid primary key,
    method      text not null,
    request     bytea not null,
    response    bytea,
    create_time timestamptz not null default now()
);
