-- Allocation's own data: quota periods, households and their placements, and a replica of
-- housing's sites (folded from housing.events) that the placement policy chooses from.

CREATE TABLE quota_periods (
    quota_period_id  uuid PRIMARY KEY,
    starts_on        date    NOT NULL,
    ends_on          date    NOT NULL CHECK (ends_on >= starts_on),
    expected_persons integer NOT NULL CHECK (expected_persons >= 0),
    weekly_quota     integer NOT NULL CHECK (weekly_quota >= 0),
    announced_at     timestamptz NOT NULL
);

CREATE TABLE households (
    household_id     uuid PRIMARY KEY,
    -- The Land's reference is the idempotency key of an assignment.
    land_reference   text NOT NULL UNIQUE,
    -- The assignment as received (canonical JSON): a repeat must match it exactly.
    request          jsonb NOT NULL,
    quota_period_id  uuid REFERENCES quota_periods (quota_period_id),
    members          jsonb NOT NULL,
    persons          integer NOT NULL CHECK (persons BETWEEN 1 AND 30),
    special_needs    text[] NOT NULL DEFAULT '{}',
    assigned_at      timestamptz NOT NULL,
    status           text NOT NULL CHECK (status IN ('placing', 'reserved', 'housed', 'waitlisted',
                                                     'youth_welfare', 'moved_out', 'departed')),
    -- Where the household lives now (also while it is being relocated).
    site_id          uuid,
    site_pillar      text,
    site_district    integer,
    checked_in_at    timestamptz,
    -- The PlacementDecided in flight, exactly as sent: a timeout re-sends it unchanged.
    pending          jsonb,
    pending_site_id  uuid GENERATED ALWAYS AS ((pending ->> 'site_id')::uuid) STORED,
    pending_reservation_id uuid GENERATED ALWAYS AS ((pending ->> 'reservation_id')::uuid) STORED,
    decided_at       timestamptz,
    reserved_until   timestamptz,
    relocation_reason text,
    tried_site_ids   uuid[] NOT NULL DEFAULT '{}',
    cancelled_reservation_ids uuid[] NOT NULL DEFAULT '{}',
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    waitlisted_since timestamptz,
    independence     text,
    german           text,
    residence_prospects text,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT awaiting_has_request CHECK (status NOT IN ('placing', 'reserved') OR pending IS NOT NULL),
    CONSTRAINT housed_has_site CHECK (status <> 'housed' OR site_id IS NOT NULL)
);
CREATE INDEX households_status ON households (status);
CREATE INDEX households_waitlist ON households (waitlisted_since) WHERE status = 'waitlisted';
CREATE INDEX households_awaiting ON households (pending_site_id) WHERE status IN ('placing', 'reserved');
CREATE INDEX households_overdue ON households (decided_at) WHERE status = 'placing';
CREATE INDEX households_site ON households (site_id) WHERE site_id IS NOT NULL;
CREATE INDEX households_quota ON households (quota_period_id);

-- What happened to a household and why, in words for staff (decisions with reasons).
CREATE TABLE placement_history (
    id             bigserial PRIMARY KEY,
    household_id   uuid NOT NULL REFERENCES households (household_id),
    at             timestamptz NOT NULL,
    kind           text NOT NULL,
    site_id        uuid,
    reservation_id uuid,
    attempt        integer,
    reason         text NOT NULL
);
CREATE INDEX placement_history_household ON placement_history (household_id, id);

-- Replica of housing's sites: an estimate (housing confirms or rejects every reservation).
CREATE TABLE sites (
    site_id       uuid PRIMARY KEY,
    name          text    NOT NULL,
    pillar        text    NOT NULL,
    district      integer NOT NULL,
    suitability   text[]  NOT NULL DEFAULT '{}',
    status        text    NOT NULL CHECK (status IN ('planned', 'open', 'closing', 'closed')),
    capacity      integer NOT NULL DEFAULT 0,
    blocked       integer NOT NULL DEFAULT 0,
    reserved      integer NOT NULL DEFAULT 0,
    occupied      integer NOT NULL DEFAULT 0,
    -- Highest housing sequence folded for this site: older site-level events are stale.
    last_sequence bigint  NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Housing's reservations as seen in its events, keyed by reservation_id, so a repeated
-- answer (housing answers a re-sent request again) never counts places twice.
CREATE TABLE site_reservations (
    reservation_id uuid PRIMARY KEY,
    site_id        uuid    NOT NULL,
    household_id   uuid    NOT NULL,
    places         integer NOT NULL,
    state          text    NOT NULL CHECK (state IN ('held', 'released', 'checked_in'))
);

-- Who lives at which site, as housing reported it; makes check-in/out folds idempotent.
-- Keyed by both: a relocation's check-in at the new site and check-out at the old one come
-- on different keys, so they may arrive in either order.
CREATE TABLE site_occupants (
    site_id      uuid    NOT NULL,
    household_id uuid    NOT NULL,
    persons      integer NOT NULL,
    PRIMARY KEY (site_id, household_id)
);
