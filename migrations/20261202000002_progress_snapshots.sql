-- Progress snapshots (DESIGN §4): each active goal's and key result's
-- progress as the engine computed it at a moment, so BI tools chart history
-- without re-implementing the math. The service records one at every UTC
-- midnight of an active goal's time frame (reason DAILY) and one when a goal
-- closes (reason CLOSE). The key is the goal and the moment, so a replica
-- recording a snapshot another already recorded changes nothing.

create table progress_snapshot (
    goal_id     uuid not null references goal (goal_id) on delete cascade,
    -- The moment evaluated: a UTC midnight, or the closing moment.
    as_of       timestamptz not null,
    reason      text not null check (reason in ('DAILY', 'CLOSE')),
    score       double precision not null,
    expected    double precision not null,
    status      text not null check (status in ('NO_DATA', 'ON_TRACK', 'AT_RISK', 'OFF_TRACK',
                    'ACHIEVED', 'MISSED')),
    grade       text not null check (grade in ('RED', 'YELLOW', 'GREEN')),
    complete    boolean not null,
    -- When the snapshot was written: data that arrived later for the moment
    -- is not in it.
    recorded_at timestamptz not null default now(),
    primary key (goal_id, as_of)
);

create index progress_snapshot_as_of_idx on progress_snapshot (as_of);

create table key_result_progress_snapshot (
    goal_id       uuid not null,
    as_of         timestamptz not null,
    key_result_id uuid not null references key_result (key_result_id) on delete cascade,
    -- Null where the key result had no value (no data is not zero).
    baseline      double precision,
    current       double precision,
    target        double precision,
    progress      double precision,
    score         double precision,
    expected      double precision not null,
    status        text not null check (status in ('NO_DATA', 'ON_TRACK', 'AT_RISK', 'OFF_TRACK',
                      'ACHIEVED', 'MISSED')),
    primary key (goal_id, as_of, key_result_id),
    foreign key (goal_id, as_of) references progress_snapshot (goal_id, as_of) on delete cascade
);

create index key_result_progress_snapshot_key_result_idx
    on key_result_progress_snapshot (key_result_id, as_of);
