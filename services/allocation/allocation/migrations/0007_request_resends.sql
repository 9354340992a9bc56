-- How often a request went out again unanswered: each re-send waits twice as long as the
-- one before (handlers.RESEND_DOUBLINGS), so a housing hours behind gets a few copies of
-- a request, not one per timeout. A new request starts again from 0.
ALTER TABLE households ADD COLUMN request_resends integer NOT NULL DEFAULT 0
    CHECK (request_resends >= 0);
