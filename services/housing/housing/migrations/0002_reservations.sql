-- The site lifecycle (planned → open → closing → closed), reservations and occupants.
-- A new file rather than a rewrite of 0001: local databases that ran 0001 keep working.

ALTER TABLE sites
    ALTER COLUMN operator DROP NOT NULL,  -- a planned site may have no operator yet
    ADD COLUMN reserved integer NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    ADD COLUMN suitability text[] NOT NULL DEFAULT '{}'
        CHECK (suitability <@ ARRAY['families', 'single_adults', 'women_only',
                                    'accessible', 'minors']),
    ADD COLUMN planned_opening_on date,
    ADD COLUMN closing_reason text,
    ADD COLUMN closes_on date,
    ADD CONSTRAINT site_status CHECK (status IN ('planned', 'open', 'closing', 'closed')),
    ADD CONSTRAINT operator_once_open CHECK (status = 'planned' OR operator IS NOT NULL);

-- The last line of defence, now counting reservations: no site is ever over its capacity.
ALTER TABLE sites DROP CONSTRAINT within_capacity;
ALTER TABLE sites ADD CONSTRAINT within_capacity CHECK (occupied + reserved + blocked <= capacity);
CREATE INDEX sites_status ON sites (status);

-- Every reservation request, granted or rejected, so a repeat gets the same answer.
CREATE TABLE reservations (
    reservation_id   uuid PRIMARY KEY,  -- chosen by the requester: the idempotency key
    site_id          uuid NOT NULL,     -- no FK: a request for an unknown site is kept too
    household_id     uuid NOT NULL,
    places           integer NOT NULL CHECK (places BETWEEN 1 AND 30),
    special_needs    text[] NOT NULL DEFAULT '{}',
    -- 'pending' exists only inside the deciding transaction; it never commits.
    status           text NOT NULL
        CHECK (status IN ('pending', 'held', 'checked_in', 'released', 'rejected')),
    requested_at     timestamptz NOT NULL,
    expires_at       timestamptz,
    rejection_reason text,
    free_places      integer,
    released_at      timestamptz,
    release_reason   text,
    checked_in_at    timestamptz,
    CONSTRAINT held_until CHECK (status NOT IN ('held', 'checked_in', 'released')
                                 OR expires_at IS NOT NULL),
    CONSTRAINT rejected_why CHECK (status <> 'rejected' OR rejection_reason IS NOT NULL)
);
CREATE INDEX reservations_expiry ON reservations (expires_at) WHERE status = 'held';
CREATE INDEX reservations_household ON reservations (household_id);
CREATE INDEX reservations_site ON reservations (site_id, status);

-- Who lives where now: one row per household (a household lives in one place).
CREATE TABLE occupants (
    household_id   uuid PRIMARY KEY,
    site_id        uuid NOT NULL REFERENCES sites (site_id),
    persons        integer NOT NULL CHECK (persons BETWEEN 1 AND 30),
    reservation_id uuid REFERENCES reservations (reservation_id),
    checked_in_at  timestamptz NOT NULL
);
CREATE INDEX occupants_site ON occupants (site_id);
