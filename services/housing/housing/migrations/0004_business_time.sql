-- Business time (issue 13). Every change is kept with two times: when it happened in the
-- world (business time, from the command or the consumed event) and when housing recorded
-- it (wall clock). "Occupancy as of a date" reads the first; "what did we know then"
-- filters on the second.

ALTER TABLE sites ADD COLUMN changed_at timestamptz;  -- latest business time of a change

-- Every state a site went through: opening, places, blocking, closing.
CREATE TABLE site_history (
    id           bigserial PRIMARY KEY,
    site_id      uuid        NOT NULL REFERENCES sites (site_id),
    effective_at timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    status       text        NOT NULL,
    capacity     integer     NOT NULL,
    blocked      integer     NOT NULL
);
CREATE INDEX site_history_as_of ON site_history (site_id, effective_at, id);

-- Every stay (Aufenthalt) of a household at a site: kept after the check-out, unlike
-- ``occupants`` (who lives where now).
CREATE TABLE stays (
    id               bigserial PRIMARY KEY,
    household_id     uuid        NOT NULL,
    site_id          uuid        NOT NULL REFERENCES sites (site_id),
    persons          integer     NOT NULL CHECK (persons BETWEEN 1 AND 30),
    checked_in_at    timestamptz NOT NULL,
    checked_out_at   timestamptz CHECK (checked_out_at >= checked_in_at),
    check_out_reason text,
    recorded_in_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    recorded_out_at  timestamptz
);
CREATE INDEX stays_household ON stays (household_id, checked_in_at);
CREATE INDEX stays_site ON stays (site_id, checked_in_at);
CREATE UNIQUE INDEX stays_one_open ON stays (household_id) WHERE checked_out_at IS NULL;

-- The expected arrival a hold runs to (rule 1), and when the reservation was recorded.
ALTER TABLE reservations
    ADD COLUMN expected_arrival_at timestamptz,
    ADD COLUMN recorded_at timestamptz NOT NULL DEFAULT clock_timestamp();
