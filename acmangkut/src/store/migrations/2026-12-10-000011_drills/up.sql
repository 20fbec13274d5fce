-- Fault drills: each save adds a version, as plans do; `drills` keeps the latest.
CREATE TABLE drills (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    version INTEGER NOT NULL,
    -- the latest version's document (DrillDocument), operation versions pinned
    definition TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);

CREATE TABLE drill_versions (
    drill_id BIGINT NOT NULL REFERENCES drills (id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (drill_id, version)
);

-- A run of a drill version: a durable state machine with a lease (one replica drives it).
-- The document it runs is a snapshot; `outcome` is the end state chosen when it began to stop
-- (stopping → outcome once every target is recovered).
CREATE TABLE drill_runs (
    id BIGSERIAL PRIMARY KEY,
    drill_id BIGINT NOT NULL,
    drill TEXT NOT NULL,
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    state TEXT NOT NULL,
    stage TEXT NOT NULL,
    outcome TEXT,
    reason TEXT NOT NULL DEFAULT '',
    started_by TEXT NOT NULL,
    lease_owner TEXT,
    lease_expires_at BIGINT,
    created_at BIGINT NOT NULL,
    injected_at BIGINT,
    observe_until BIGINT,
    next_check_at BIGINT,
    ended_at BIGINT
);
CREATE INDEX drill_runs_claimable ON drill_runs (state, lease_expires_at);
CREATE INDEX drill_runs_by_drill ON drill_runs (drill_id, id);

-- One record per selected target: what it should be (desired) and what it is (observed),
-- driven towards each other by the reconcile loop. Observed `unknown`: an injection was
-- attempted and did not finish as expected (recovery is idempotent, so it is recovered).
CREATE TABLE drill_run_targets (
    run_id BIGINT NOT NULL REFERENCES drill_runs (id) ON DELETE CASCADE,
    target TEXT NOT NULL,
    position INTEGER NOT NULL,
    vars TEXT NOT NULL,
    fault_id TEXT NOT NULL,
    desired TEXT NOT NULL,
    observed TEXT NOT NULL,
    injects INTEGER NOT NULL DEFAULT 0,
    recovers INTEGER NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (run_id, target)
);

CREATE TABLE drill_run_events (
    id BIGSERIAL PRIMARY KEY,
    run_id BIGINT NOT NULL REFERENCES drill_runs (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    target TEXT,
    what TEXT NOT NULL,
    evidence TEXT NOT NULL DEFAULT ''
);
CREATE INDEX drill_run_events_by_run ON drill_run_events (run_id, id);
