ALTER TABLE monitors ADD COLUMN degraded_threshold_ms BIGINT;
ALTER TABLE monitors ADD COLUMN locations_json TEXT NOT NULL DEFAULT '[]';
ALTER TABLE monitors ADD COLUMN location_failure_threshold INTEGER NOT NULL DEFAULT 1;
ALTER TABLE probe_results ADD COLUMN location TEXT NOT NULL DEFAULT 'default';
ALTER TABLE probe_results ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
ALTER TABLE probe_results ADD COLUMN has_screenshot BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE screenshots (
    result_id BIGINT PRIMARY KEY REFERENCES probe_results (id) ON DELETE CASCADE,
    monitor_id BIGINT NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    png BYTEA NOT NULL
);
CREATE INDEX screenshots_created ON screenshots (created_at);
CREATE INDEX screenshots_monitor ON screenshots (monitor_id, created_at);
