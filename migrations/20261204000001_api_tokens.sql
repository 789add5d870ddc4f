-- API tokens (DESIGN §5): bearer tokens that authenticate gRPC calls, each
-- with a set of scopes. Only a SHA-256 hash of a token is kept: tokens are
-- 32 random bytes, so a hash cannot be reversed by guessing, and a leaked
-- table does not leak working credentials. Revoked tokens stay listed (and
-- their names stay taken) so that provenance recorded under a name keeps
-- meaning one token.

create table api_token (
    api_token_id bigint generated always as identity primary key,
    name         text not null constraint api_token_name_key unique,
    token_hash   bytea not null constraint api_token_hash_key unique,
    scopes       text[] not null,
    create_time  timestamptz not null default now(),
    revoke_time  timestamptz,
    -- The same rule as `TokenName::parse` in src/auth/tokens.rs, so rows
    -- written by hand cannot hold a name the service would refuse.
    constraint api_token_name_check check (name ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
    constraint api_token_hash_check check (octet_length(token_hash) = 32),
    constraint api_token_scopes_check check (
        cardinality(scopes) > 0
        and scopes <@ array['read', 'write', 'ingest', 'admin']::text[]
    ),
    constraint api_token_revoke_time_check check (revoke_time >= create_time)
);

comment on table api_token is 'Bearer tokens for the gRPC API, created, listed and revoked with `goalpost token`; only a SHA-256 hash of each secret is kept.';
