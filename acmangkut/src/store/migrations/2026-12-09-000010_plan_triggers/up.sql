-- Triggers of plans. A plan whose latest version declares a schedule has a row here with its
-- next slot; due rows are claimed by lease (like every work queue), and firing a slot moves
-- `next_at` on in the same transaction as the execution it starts, so a slot fires once.
CREATE TABLE plan_schedules (
    id BIGSERIAL PRIMARY KEY,
    plan_id BIGINT NOT NULL UNIQUE REFERENCES plans (id) ON DELETE CASCADE,
    cron TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    next_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_expires_at BIGINT
);
CREATE INDEX plan_schedules_due ON plan_schedules (next_at);

-- The execution each risk event proposed for each plan answering it: one proposal per event
-- and plan, whichever replica saw the event.
CREATE TABLE plan_risk_proposals (
    risk_event_id BIGINT NOT NULL REFERENCES risk_events (id) ON DELETE CASCADE,
    plan TEXT NOT NULL,
    execution_id BIGINT NOT NULL REFERENCES plan_executions (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (risk_event_id, plan)
);
