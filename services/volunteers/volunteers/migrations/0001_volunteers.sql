-- The Koordinierungsstelle Flüchtlingshilfe: volunteers (with their contact details, which
-- stay in this database), initiatives, support requests, matches and hours.

CREATE TABLE initiatives (
    initiative_id uuid PRIMARY KEY,
    name          text NOT NULL,
    kind          text NOT NULL
        CHECK (kind IN ('support_circle', 'mso', 'welfare_association', 'faith_community', 'other')),
    districts     integer[] NOT NULL DEFAULT '{}'
        CHECK (districts <@ ARRAY[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]),
    site_ids      uuid[] NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE volunteers (
    volunteer_id            uuid PRIMARY KEY,
    -- What matching tests on every row comes first, fixed-width before variable-width:
    -- PostgreSQL reads a row's columns left to right, so the scan never walks past the
    -- names and arrays it does not need (bench/NOTES.md).
    -- The skills, districts and weekdays below as bit sets (store.SKILL_BITS, bit d for
    -- district d, store.WEEKDAY_BITS): tested with integer AND, far cheaper per row than
    -- array operators.
    skills_mask             integer NOT NULL CHECK (skills_mask > 0),
    districts_mask          integer NOT NULL CHECK (districts_mask > 0),
    weekdays_mask           integer NOT NULL CHECK (weekdays_mask BETWEEN 1 AND 127),
    hours_per_week          integer NOT NULL CHECK (hours_per_week BETWEEN 1 AND 40),
    -- Hours per week promised to running matches: never above what the volunteer offered.
    committed_hours         integer NOT NULL DEFAULT 0
        CHECK (committed_hours >= 0 AND committed_hours <= hours_per_week),
    mso                     boolean NOT NULL DEFAULT false,
    certificate_valid_until date,
    status                  text NOT NULL CHECK (status IN ('active', 'paused', 'withdrawn')),
    -- Every (skill, district) the volunteer offers, as skill bit * 16 + district: the GIN
    -- index below finds who offers a request's skill in or next to its district without
    -- reading the rest of the table.
    match_keys              integer[] NOT NULL CHECK (cardinality(match_keys) > 0),
    languages               text[] NOT NULL CHECK (cardinality(languages) > 0),
    skills                  text[] NOT NULL CHECK (cardinality(skills) > 0),
    districts               integer[] NOT NULL CHECK (cardinality(districts) > 0)
        CHECK (districts <@ ARRAY[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]),
    weekdays                text[] NOT NULL CHECK (cardinality(weekdays) > 0),
    registered_on           date NOT NULL,
    initiative_id           uuid REFERENCES initiatives (initiative_id),
    paused_until            date,
    withdrawn_on            date,
    certificate_issued_on   date,
    -- Contact details: personal data, never in an event.
    name                    text NOT NULL,
    email                   text,
    phone                   text,
    recorded_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX volunteers_active_match_keys ON volunteers USING gin (match_keys)
    WHERE status = 'active';
CREATE INDEX volunteers_certificate ON volunteers (certificate_valid_until)
    WHERE status <> 'withdrawn';
CREATE INDEX volunteers_listing ON volunteers (registered_on DESC, volunteer_id);

CREATE TABLE support_requests (
    request_id         uuid PRIMARY KEY,  -- SupportRequested.request_id, or chosen here
    kind               text NOT NULL,
    district           integer NOT NULL CHECK (district BETWEEN 1 AND 13),
    languages          text[] NOT NULL CHECK (cardinality(languages) > 0),
    weekdays           text[] NOT NULL DEFAULT '{}',
    hours_per_week     integer NOT NULL CHECK (hours_per_week BETWEEN 1 AND 40),
    involves_children  boolean NOT NULL,
    requested_on       date NOT NULL,
    source             text NOT NULL CHECK (source IN ('integration', 'coordinator')),
    case_id            uuid,  -- pseudonym only: no case or household data here
    status             text NOT NULL CHECK (status IN ('open', 'matched', 'closed')),
    flagged_overdue_on date,
    recorded_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX support_requests_open ON support_requests (requested_on) WHERE status = 'open';
CREATE INDEX support_requests_case ON support_requests (case_id) WHERE case_id IS NOT NULL;
CREATE INDEX support_requests_listing ON support_requests (requested_on DESC, request_id);

CREATE TABLE matches (
    match_id          uuid PRIMARY KEY,
    request_id        uuid NOT NULL REFERENCES support_requests (request_id),
    volunteer_id      uuid NOT NULL REFERENCES volunteers (volunteer_id),
    district          integer NOT NULL,
    skill             text NOT NULL,
    involves_children boolean NOT NULL,
    hours_per_week    integer NOT NULL,
    matched_on        date NOT NULL,
    score             double precision NOT NULL,
    status            text NOT NULL CHECK (status IN ('active', 'ended')),
    ended_on          date,
    end_reason        text,
    CONSTRAINT ended_why CHECK (status = 'active' OR (ended_on IS NOT NULL AND end_reason IS NOT NULL))
);
-- A request has at most one running match.
CREATE UNIQUE INDEX matches_one_active_per_request ON matches (request_id) WHERE status = 'active';
CREATE INDEX matches_volunteer ON matches (volunteer_id, status);

CREATE TABLE hours (
    entry_id     uuid PRIMARY KEY,
    volunteer_id uuid NOT NULL REFERENCES volunteers (volunteer_id),
    match_id     uuid REFERENCES matches (match_id),
    district     integer NOT NULL CHECK (district BETWEEN 1 AND 13),
    worked_on    date NOT NULL,
    hours        numeric(5, 2) NOT NULL CHECK (hours > 0 AND hours <= 24)
);
CREATE INDEX hours_volunteer ON hours (volunteer_id, worked_on);
