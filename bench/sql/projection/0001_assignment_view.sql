-- The benchmark's projection: one row per assigned household, folded like reporting's
-- site rows (an upsert guarded by the event's per-subject sequence).
CREATE TABLE assignment_view (
    household_id    uuid PRIMARY KEY,
    land_reference  text        NOT NULL,
    quota_period_id uuid,
    persons         integer     NOT NULL,
    origin          text        NOT NULL,
    last_sequence   bigint      NOT NULL,
    assigned_at     timestamptz NOT NULL,
    -- When the row was written: the end of the pipeline benchmark's clock.
    projected_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
