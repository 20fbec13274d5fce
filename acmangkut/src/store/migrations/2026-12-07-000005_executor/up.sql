-- The executor's record of each action it runs: an intent committed before the side effect,
-- its outcome after. A row without an outcome after a crash is an action that may or may not
-- have happened: re-run only when idempotent, otherwise handed to the operator.
CREATE TABLE action_runs (
    id BIGSERIAL PRIMARY KEY,
    -- What the action belongs to, e.g. `plan-execution:12/step:fence`.
    subject TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    summary TEXT NOT NULL,
    idempotent BOOLEAN NOT NULL,
    owner TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    status TEXT,
    value TEXT,
    evidence TEXT,
    UNIQUE (subject, attempt)
);
CREATE INDEX action_runs_unfinished ON action_runs (finished_at, subject);
