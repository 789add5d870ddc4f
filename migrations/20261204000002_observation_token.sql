-- Observations record which token wrote them: a source is now a label and
-- the token that used it, so the COPY path still carries one 4-byte id per
-- row and resolves it once per label and load. A null token_name means the
-- value was written without a token (anonymous mode, or before tokens
-- existed); a completed audit's values carry the token that completed it.
alter table observation_source
    add column token_name text constraint observation_source_token_name_fkey references api_token (name);

alter table observation_source drop constraint observation_source_name_key;

alter table observation_source
    add constraint observation_source_name_token_key unique nulls not distinct (name, token_name);

comment on column observation_source.token_name is 'The name of the API token whose calls wrote values with this source label; null for writes without a token.';
