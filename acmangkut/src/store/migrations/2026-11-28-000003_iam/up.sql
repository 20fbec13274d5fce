-- IAM: permission metadata, roles, built-in and OIDC users, bindings, sessions, API tokens,
-- pending OIDC sign-ins, the audit log and cluster-wide settings.
CREATE TABLE iam_permissions (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    description_zh TEXT NOT NULL DEFAULT ''
);

CREATE TABLE iam_roles (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    builtin BOOLEAN NOT NULL DEFAULT FALSE,
    -- JSON array of permission names, sorted.
    permissions TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE iam_users (
    id BIGSERIAL PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL DEFAULT '',
    -- argon2id PHC string; NULL for users of the OIDC provider.
    password_hash TEXT,
    source TEXT NOT NULL,
    break_glass BOOLEAN NOT NULL DEFAULT FALSE,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_sign_in_at BIGINT
);

CREATE TABLE iam_bindings (
    id BIGSERIAL PRIMARY KEY,
    subject_kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    role TEXT NOT NULL REFERENCES iam_roles (name) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    UNIQUE (subject_kind, subject, role)
);

CREATE TABLE iam_sessions (
    -- SHA-256 (hex) of the cookie value: a database dump holds no usable session.
    id_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES iam_users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    -- JSON array of the IdP groups at sign-in (OIDC users).
    groups TEXT NOT NULL DEFAULT '[]',
    peer TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX iam_sessions_expires ON iam_sessions (expires_at);

CREATE TABLE iam_api_tokens (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES iam_users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    permissions TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);

CREATE TABLE iam_oidc_logins (
    state TEXT PRIMARY KEY,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    next_url TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE audit_events (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    action TEXT NOT NULL,
    resource TEXT NOT NULL,
    resource_id TEXT,
    outcome TEXT NOT NULL,
    peer TEXT NOT NULL,
    before_json TEXT,
    after_json TEXT,
    detail TEXT
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_actor ON audit_events (actor, at);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
