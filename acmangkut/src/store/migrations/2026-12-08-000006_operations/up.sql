-- The atomic operations catalog (原子操作): each operation's latest document and lifecycle,
-- every version it has had, and which plan versions pin which operation versions.
CREATE TABLE operations (
    id BIGSERIAL PRIMARY KEY,
    -- stable: plans refer to it
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    -- draft, published or deprecated
    status TEXT NOT NULL,
    -- the latest version and its document (OperationInput)
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    published_at BIGINT,
    published_by TEXT,
    deprecated_at BIGINT,
    deprecated_by TEXT
);
CREATE INDEX operations_status ON operations (status, kind);

-- Every version of each operation's document: a plan version pins one of them.
CREATE TABLE operation_versions (
    operation_id BIGINT NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (operation_id, version)
);

-- The operation versions each plan version pins (one row per pair, however many steps use
-- it). RESTRICT: a referenced operation cannot be deleted.
CREATE TABLE plan_operation_refs (
    plan_name TEXT NOT NULL,
    plan_version INTEGER NOT NULL,
    operation_code TEXT NOT NULL REFERENCES operations (code) ON DELETE RESTRICT,
    operation_version INTEGER NOT NULL,
    PRIMARY KEY (plan_name, plan_version, operation_code, operation_version)
);
CREATE INDEX plan_operation_refs_operation ON plan_operation_refs (operation_code);
