-- The inventory of social accounts and the audits that snapshot them.

create table account (
    account_id   uuid primary key,
    network      text not null check (network in ('FACEBOOK', 'INSTAGRAM', 'X', 'LINKEDIN', 'TIKTOK',
                     'YOUTUBE', 'PINTEREST', 'SNAPCHAT', 'THREADS', 'REDDIT', 'OTHER')),
    handle       text not null check (handle <> ''),
    profile_url  text not null default '',
    display_name text not null default '',
    owner        text not null default '',
    purpose      text not null default '',
    status       text not null check (status in ('ACTIVE', 'DORMANT', 'IMPOSTOR', 'RETIRED')),
    create_time  timestamptz not null default now(),
    update_time  timestamptz not null default now(),
    revision     bigint not null default 1
);

-- Handles are case-insensitive on every network we track.
create unique index account_network_handle_key on account (network, lower(handle));

create trigger account_bump_revision before update on account
    for each row execute function bump_revision();

create table audit (
    audit_id      uuid primary key,
    title         text not null check (title <> ''),
    auditor       text not null default '',
    as_of         timestamptz not null,
    state         text not null default 'DRAFT' check (state in ('DRAFT', 'COMPLETED')),
    create_time   timestamptz not null default now(),
    update_time   timestamptz not null default now(),
    complete_time timestamptz,
    revision      bigint not null default 1,
    constraint audit_completed_has_time check ((state = 'COMPLETED') = (complete_time is not null))
);

create trigger audit_bump_revision before update on audit
    for each row execute function bump_revision();

-- An account referenced by an audit is part of that audit's record, so it
-- cannot be deleted (no cascade).
create table audit_entry (
    audit_id      uuid not null references audit (audit_id) on delete cascade,
    account_id    uuid not null references account (account_id),
    top_post_urls text[] not null default '{}',
    assessment    text check (assessment in ('PERFORMING_WELL', 'NEEDS_FOCUS', 'RETIRE')),
    notes         text not null default '',
    primary key (audit_id, account_id)
);

create index audit_entry_account_idx on audit_entry (account_id);

create table audit_entry_metric (
    audit_id   uuid not null,
    account_id uuid not null,
    metric_key text not null references metric_definition (metric_key),
    value      double precision not null,
    primary key (audit_id, account_id, metric_key),
    foreign key (audit_id, account_id) references audit_entry (audit_id, account_id) on delete cascade
);

create table audit_finding (
    audit_id    uuid not null references audit (audit_id) on delete cascade,
    position    integer not null,
    kind        text not null check (kind in ('TOP_PERFORMER', 'BOTTOM_PERFORMER', 'MISSING_OWNER',
                    'MISSING_PURPOSE', 'IMPOSTOR')),
    account_id  uuid not null references account (account_id),
    metric_key  text references metric_definition (metric_key),
    value       double precision,
    description text not null,
    primary key (audit_id, position)
);
