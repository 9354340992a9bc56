-- Business time (issue 13): the expected arrival the holds run to, the overdue-arrival
-- task of rule 1, and the wall-clock moment a request was sent (the saga's technical
-- timeout must not read business time: a backdated decision is not a silent one).
ALTER TABLE households
    ADD COLUMN expected_arrival_at timestamptz,
    ADD COLUMN request_sent_at timestamptz;
ALTER TABLE households DROP CONSTRAINT households_status_check;
ALTER TABLE households ADD CONSTRAINT households_status_check
    CHECK (status IN ('placing', 'reserved', 'housed', 'waitlisted', 'arrival_overdue',
                      'youth_welfare', 'moved_out', 'departed'));
DROP INDEX households_overdue;
CREATE INDEX households_overdue ON households (request_sent_at)
    WHERE pending IS NOT NULL AND reserved_until IS NULL;
