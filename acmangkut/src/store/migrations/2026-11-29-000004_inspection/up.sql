-- The inspection center: plugins, versioned rules, tasks, runs with their findings, risk
-- events, notification channels and the notification outbox. Definitions are JSON documents
-- (the API's own types); the columns beside them are what queries filter, join or lock on.
CREATE TABLE inspection_plugins (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    builtin BOOLEAN NOT NULL DEFAULT FALSE,
    -- {"description": …, "defaults": {…}}
    definition TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE inspection_rules (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    -- RESTRICT: a plugin that rules reference cannot be deleted.
    plugin_id BIGINT NOT NULL REFERENCES inspection_plugins (id) ON DELETE RESTRICT,
    level TEXT NOT NULL,
    version INTEGER NOT NULL,
    -- the rule as the API shows it (RuleInput)
    definition TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX inspection_rules_plugin ON inspection_rules (plugin_id);

-- Every version a rule has had, so a report shows the rule as it was when it ran.
CREATE TABLE inspection_rule_versions (
    rule_id BIGINT NOT NULL,
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (rule_id, version)
);

CREATE TABLE inspection_tasks (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    enabled BOOLEAN NOT NULL,
    definition TEXT NOT NULL,
    -- NULL: no schedule (run on demand) or disabled. Replicas take due tasks under a row lock
    -- (SKIP LOCKED) in the transaction that queues the run, so no lease is needed here.
    next_run_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX inspection_tasks_due ON inspection_tasks (next_run_at);

-- Which rules a task runs: RESTRICT keeps a rule a task uses from being deleted.
CREATE TABLE inspection_task_rules (
    task_id BIGINT NOT NULL REFERENCES inspection_tasks (id) ON DELETE CASCADE,
    rule_id BIGINT NOT NULL REFERENCES inspection_rules (id) ON DELETE RESTRICT,
    position INTEGER NOT NULL,
    PRIMARY KEY (task_id, rule_id)
);
CREATE INDEX inspection_task_rules_rule ON inspection_task_rules (rule_id);

-- One run of a task: queued → running → completed | timed_out | interrupted.
CREATE TABLE inspection_runs (
    id BIGSERIAL PRIMARY KEY,
    task_id BIGINT NOT NULL REFERENCES inspection_tasks (id) ON DELETE CASCADE,
    task_name TEXT NOT NULL,
    trigger_kind TEXT NOT NULL,
    -- for scheduled runs, the slot they fill: one run per task and slot across replicas
    scheduled_for BIGINT,
    state TEXT NOT NULL,
    actor TEXT NOT NULL DEFAULT '',
    queued_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    lease_owner TEXT,
    lease_expires_at BIGINT,
    -- the task as it was when the run was queued (TaskInput plus rule ids and versions)
    plan TEXT NOT NULL,
    total INTEGER NOT NULL DEFAULT 0,
    passed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    score DOUBLE PRECISION,
    -- {"high": {"total": n, "failed": n, "errors": n}, …, "new": n, "fixed": n, "still_failing": n}
    summary TEXT NOT NULL DEFAULT '{}',
    previous_run_id BIGINT,
    detail TEXT
);
CREATE UNIQUE INDEX inspection_runs_slot ON inspection_runs (task_id, scheduled_for);
CREATE INDEX inspection_runs_task ON inspection_runs (task_id, id);
CREATE INDEX inspection_runs_state ON inspection_runs (state);

CREATE TABLE inspection_findings (
    id BIGSERIAL PRIMARY KEY,
    run_id BIGINT NOT NULL REFERENCES inspection_runs (id) ON DELETE CASCADE,
    -- position in the run's plan (rule index × targets + target index): stable order
    seq INTEGER NOT NULL,
    rule_id BIGINT NOT NULL,
    rule_version INTEGER NOT NULL,
    rule_name TEXT NOT NULL,
    target TEXT NOT NULL,
    level TEXT NOT NULL,
    status TEXT NOT NULL,
    value TEXT,
    evidence TEXT NOT NULL,
    subject TEXT NOT NULL,
    duration_ms BIGINT NOT NULL,
    change_kind TEXT,
    checked_at BIGINT NOT NULL,
    UNIQUE (run_id, seq)
);

CREATE TABLE risk_events (
    id BIGSERIAL PRIMARY KEY,
    -- `rule:<id>:<target>` or `monitor:<id>`: one open event per key
    dedup_key TEXT NOT NULL,
    source TEXT NOT NULL,
    level TEXT NOT NULL,
    title TEXT NOT NULL,
    detail TEXT NOT NULL,
    state TEXT NOT NULL,
    rule_id BIGINT,
    target TEXT,
    monitor_id BIGINT,
    task_id BIGINT,
    run_id BIGINT,
    occurrences INTEGER NOT NULL DEFAULT 1,
    opened_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    acknowledged_at BIGINT,
    acknowledged_by TEXT,
    resolved_at BIGINT,
    resolved_by TEXT,
    comment TEXT
);
CREATE UNIQUE INDEX risk_events_open ON risk_events (dedup_key) WHERE state <> 'resolved';
CREATE INDEX risk_events_state ON risk_events (state, opened_at);

CREATE TABLE notification_channels (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    -- ChannelSpec with its secrets (never shown by the API)
    definition TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- The outbox: written in the transaction that finishes a run, sent by any replica.
CREATE TABLE notification_deliveries (
    id BIGSERIAL PRIMARY KEY,
    channel_id BIGINT NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    run_id BIGINT REFERENCES inspection_runs (id) ON DELETE CASCADE,
    message TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_expires_at BIGINT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT,
    last_error TEXT
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (state, next_attempt_at);
CREATE INDEX notification_deliveries_run ON notification_deliveries (run_id);

CREATE TABLE notification_attempts (
    id BIGSERIAL PRIMARY KEY,
    delivery_id BIGINT NOT NULL REFERENCES notification_deliveries (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    at BIGINT NOT NULL,
    ok BOOLEAN NOT NULL,
    status_code INTEGER,
    error TEXT,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX notification_attempts_delivery ON notification_attempts (delivery_id);
