-- Issue 13's placement rules: minors referred per person, relocation pending, away after
-- an exit without a next place, and the site facts the dissolution order and the
-- protection rules need (building, closing date, flats).

-- Persons placed together (referred minors not counted: they are with youth welfare);
-- a household of unaccompanied minors only has none.
ALTER TABLE households DROP CONSTRAINT households_persons_check;
ALTER TABLE households
    ADD CONSTRAINT households_persons_check CHECK (persons BETWEEN 0 AND 30),
    ADD COLUMN minors_referred integer NOT NULL DEFAULT 0 CHECK (minors_referred BETWEEN 0 AND 30),
    -- Children, special needs or 65+: moves first when a shelter is dissolved.
    ADD COLUMN vulnerable boolean NOT NULL DEFAULT false;
ALTER TABLE households DROP CONSTRAINT households_status_check;
ALTER TABLE households ADD CONSTRAINT households_status_check
    CHECK (status IN ('placing', 'reserved', 'housed', 'relocation_pending', 'waitlisted',
                      'youth_welfare', 'away', 'moved_out', 'departed'));
ALTER TABLE households DROP CONSTRAINT housed_has_site;
ALTER TABLE households ADD CONSTRAINT housed_has_site
    CHECK (status NOT IN ('housed', 'relocation_pending') OR site_id IS NOT NULL);
CREATE INDEX households_relocation_pending ON households (checked_in_at)
    WHERE status = 'relocation_pending';

ALTER TABLE sites
    ADD COLUMN building text NOT NULL DEFAULT 'other',
    ADD COLUMN closes_on date;

-- Flats (Wohnungen) of a site: each let to one household; free = no held reservation
-- and nobody living in it.
CREATE TABLE site_units (
    unit_id uuid PRIMARY KEY,
    site_id uuid NOT NULL,
    places  integer NOT NULL CHECK (places BETWEEN 1 AND 30)
);
CREATE INDEX site_units_site ON site_units (site_id);
ALTER TABLE site_reservations ADD COLUMN unit_id uuid;
ALTER TABLE site_occupants ADD COLUMN unit_id uuid;
