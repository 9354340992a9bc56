-- Audit trail (who did what): one row per staff command and per read of a person's
-- details, written in the same transaction as the command, so a change exists exactly
-- when its audit row does. The actor is the token's pseudonymous `sub`, never a name.
CREATE TABLE audit_log (
    id             bigserial   PRIMARY KEY,
    actor          text        NOT NULL,
    roles          text[]      NOT NULL,
    action         text        NOT NULL,  -- e.g. `POST /households/{household_id}/relocation`
    subjects       text[]      NOT NULL,  -- ids acted on or read (households, sites, …)
    business_time  timestamptz NOT NULL,  -- the business clock's now (simulations differ)
    recorded_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    correlation_id uuid
);
CREATE INDEX audit_log_subjects ON audit_log USING gin (subjects);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
