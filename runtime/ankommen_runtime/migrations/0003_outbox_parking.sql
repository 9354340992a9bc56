-- An outbox row the broker refuses for good (too large, not authorised) is parked, with
-- the reason, instead of stopping the relay: rows of other subjects go on; later rows of
-- its subject wait behind it (never reordered). An operator fixes the cause and sets
-- parked_at back to NULL (see docs/runtime.md).
ALTER TABLE outbox ADD COLUMN parked_at timestamptz;
ALTER TABLE outbox ADD COLUMN park_reason text;
CREATE INDEX outbox_parked ON outbox (topic, subject) WHERE parked_at IS NOT NULL;
