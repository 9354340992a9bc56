-- Issue 13's placement rules in housing: what kind of building a site is and whose, its
-- flats (one household per flat), the protection requirements of each reservation, the
-- follow-ups of exits without a next place, and the residents as seen at the door.

ALTER TABLE sites
    ADD COLUMN building text NOT NULL DEFAULT 'other'
        CHECK (building IN ('school_sports_hall', 'club_sports_hall', 'trade_fair_hall',
                            'tent_village', 'former_store', 'hotel', 'former_hospital',
                            'modules', 'purpose_built_home', 'flats', 'other')),
    ADD COLUMN owner text NOT NULL DEFAULT 'city'
        CHECK (owner IN ('city', 'school', 'sports_club', 'trade_fair', 'housing_company',
                         'private', 'land', 'other'));

-- A Wohnung: a unit with its places under a site (the city's flats in a district).
CREATE TABLE units (
    unit_id uuid PRIMARY KEY,
    site_id uuid NOT NULL REFERENCES sites (site_id),
    places  integer NOT NULL CHECK (places BETWEEN 1 AND 30)
);
CREATE INDEX units_site ON units (site_id);

ALTER TABLE reservations
    ADD COLUMN requirements text[] NOT NULL DEFAULT '{}',
    ADD COLUMN unit_id uuid REFERENCES units (unit_id);
-- Two households never share a flat: one held reservation and one occupant per unit.
CREATE UNIQUE INDEX reservations_one_per_unit ON reservations (unit_id) WHERE status = 'held';
ALTER TABLE occupants ADD COLUMN unit_id uuid REFERENCES units (unit_id);
CREATE UNIQUE INDEX occupants_one_per_unit ON occupants (unit_id) WHERE unit_id IS NOT NULL;

-- Every exit has a next place or an alert: exits for a house ban, an institution or
-- another reason with no next place, for staff to follow up. Coarse reason only.
CREATE TABLE follow_ups (
    follow_up_id uuid PRIMARY KEY,
    site_id      uuid NOT NULL REFERENCES sites (site_id),
    household_id uuid NOT NULL,
    persons      integer NOT NULL CHECK (persons BETWEEN 1 AND 30),
    reason       text NOT NULL CHECK (reason IN ('house_ban', 'institution', 'other')),
    raised_at    timestamptz NOT NULL,
    resolved_at  timestamptz,
    note         text,
    CONSTRAINT resolved_with_note CHECK (resolved_at IS NULL OR note IS NOT NULL)
);
CREATE INDEX follow_ups_open ON follow_ups (raised_at) WHERE resolved_at IS NULL;

-- Residents as the operator saw them at the door (names as on the papers). Only here:
-- never in an event or a log; erased per person, and when the household leaves the site.
CREATE TABLE residents (
    resident_id  uuid PRIMARY KEY,
    site_id      uuid NOT NULL REFERENCES sites (site_id),
    household_id uuid NOT NULL,
    family_name  text NOT NULL CHECK (length(family_name) BETWEEN 1 AND 200),
    given_names  text NOT NULL CHECK (length(given_names) BETWEEN 1 AND 200),
    recorded_at  timestamptz NOT NULL
);
CREATE INDEX residents_site ON residents (site_id, family_name);
CREATE INDEX residents_household ON residents (household_id);
