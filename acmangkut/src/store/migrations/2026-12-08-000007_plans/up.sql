-- Disaster-recovery plans: each save adds a version (the document as JSON, who saved it and
-- when); `plans` keeps the latest beside the columns lists and lookups use. The operation
-- versions each plan version pins are in `plan_operation_refs` (the catalog's migration).
CREATE TABLE plans (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    version INTEGER NOT NULL,
    -- the latest version's document (PlanDocument)
    definition TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);

CREATE TABLE plan_versions (
    plan_id BIGINT NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (plan_id, version)
);
