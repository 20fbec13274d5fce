CREATE TABLE monitors (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    probe_kind TEXT NOT NULL,
    target TEXT NOT NULL,
    probe_json TEXT NOT NULL,
    interval_seconds BIGINT NOT NULL,
    failure_threshold INTEGER NOT NULL,
    success_threshold INTEGER NOT NULL,
    state TEXT NOT NULL,
    paused BOOLEAN NOT NULL DEFAULT FALSE,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    consecutive_successes INTEGER NOT NULL DEFAULT 0,
    next_run_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_expires_at BIGINT,
    last_checked_at BIGINT,
    state_changed_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX monitors_due ON monitors (paused, next_run_at);
CREATE INDEX monitors_state ON monitors (state);

CREATE TABLE monitor_labels (
    monitor_id BIGINT NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (monitor_id, key)
);
CREATE INDEX monitor_labels_kv ON monitor_labels (key, value);

CREATE TABLE probe_results (
    id BIGSERIAL PRIMARY KEY,
    monitor_id BIGINT NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    started_at BIGINT NOT NULL,
    success BOOLEAN NOT NULL,
    failure_reason TEXT,
    error TEXT,
    duration_seconds DOUBLE PRECISION NOT NULL,
    status_code INTEGER,
    detail_json TEXT
);
CREATE INDEX probe_results_monitor ON probe_results (monitor_id, started_at);
CREATE INDEX probe_results_started ON probe_results (started_at);

CREATE TABLE rollup_hours (
    monitor_id BIGINT NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    hour_start BIGINT NOT NULL,
    checks BIGINT NOT NULL,
    successes BIGINT NOT NULL,
    PRIMARY KEY (monitor_id, hour_start)
);
CREATE INDEX rollup_hours_hour ON rollup_hours (hour_start);

CREATE TABLE rollup_latency (
    monitor_id BIGINT NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    hour_start BIGINT NOT NULL,
    bucket INTEGER NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (monitor_id, hour_start, bucket)
);

CREATE TABLE state_changes (
    id BIGSERIAL PRIMARY KEY,
    monitor_id BIGINT NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    at BIGINT NOT NULL,
    reason TEXT
);
CREATE INDEX state_changes_at ON state_changes (at);
CREATE INDEX state_changes_monitor ON state_changes (monitor_id, at);
