-- Executions of disaster-recovery plans. Each is a row with a lease (claimed by a replica,
-- taken over when the lease expires) holding the resolved plan it runs as a snapshot; its
-- steps and its timeline are rows of their own. Every change of state is committed before the
-- side effect it leads to; the steps' actions are recorded in `action_runs` (subject
-- `execution:<id>:<step>`, and `…:undo` for a rollback).
CREATE TABLE plan_executions (
    id BIGSERIAL PRIMARY KEY,
    plan TEXT NOT NULL,
    version INTEGER NOT NULL,
    -- The `ResolvedPlan` (JSON) as it was when the execution started.
    resolved TEXT NOT NULL,
    parameters TEXT NOT NULL,
    state TEXT NOT NULL,
    -- Set once a rollback began: a paused execution resumes rolling back.
    rollback BOOLEAN NOT NULL DEFAULT FALSE,
    started_by TEXT NOT NULL,
    comment TEXT NOT NULL,
    detail TEXT,
    lease_owner TEXT,
    lease_expires_at BIGINT,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    ended_at BIGINT,
    rto_ms BIGINT
);
-- One active execution per plan.
CREATE UNIQUE INDEX plan_executions_one_active ON plan_executions (plan) WHERE ended_at IS NULL;
CREATE INDEX plan_executions_claimable ON plan_executions (state, lease_expires_at);

CREATE TABLE plan_execution_steps (
    execution_id BIGINT NOT NULL REFERENCES plan_executions (id) ON DELETE CASCADE,
    step TEXT NOT NULL,
    stage INTEGER NOT NULL,
    position INTEGER NOT NULL,
    state TEXT NOT NULL,
    -- Attempts recorded for the step's current action (its `do`, or its `undo` in a rollback).
    attempts INTEGER NOT NULL DEFAULT 0,
    -- The attempt count when the current round began (a retry by the operator starts one).
    round_start INTEGER NOT NULL DEFAULT 0,
    -- Order of completion within the execution (1, 2, ...): a rollback runs it backwards.
    completed INTEGER,
    started_at BIGINT,
    ended_at BIGINT,
    error TEXT,
    PRIMARY KEY (execution_id, step)
);

CREATE TABLE plan_execution_events (
    id BIGSERIAL PRIMARY KEY,
    execution_id BIGINT NOT NULL REFERENCES plan_executions (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    what TEXT NOT NULL,
    step TEXT,
    comment TEXT NOT NULL DEFAULT ''
);
CREATE INDEX plan_execution_events_by_execution ON plan_execution_events (execution_id, id);
