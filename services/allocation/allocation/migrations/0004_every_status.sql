-- The merge of the placement rules (0002) and business time (0003) left the status check
-- with 0003's list only, refusing 'relocation_pending' and 'away' (rules 4 and 5): every
-- HouseholdStatus again, as one list.
ALTER TABLE households DROP CONSTRAINT households_status_check;
ALTER TABLE households ADD CONSTRAINT households_status_check
    CHECK (status IN ('placing', 'reserved', 'housed', 'relocation_pending', 'away',
                      'waitlisted', 'arrival_overdue', 'youth_welfare', 'moved_out',
                      'departed'));
