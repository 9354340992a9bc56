-- Integrationsmanagement: cases, their milestones, support requests, personal details.

-- Replica of housing's sites (from ShelterPlanned/ShelterOpened): where a site is.
CREATE TABLE sites (
    site_id  uuid PRIMARY KEY,
    district integer NOT NULL CHECK (district BETWEEN 1 AND 13),
    pillar   text    NOT NULL CHECK (pillar IN ('wohnheim', 'wohnprojekt', 'wohnung', 'notunterkunft'))
);

CREATE TABLE cases (
    case_id          uuid PRIMARY KEY,
    household_id     uuid    NOT NULL,
    persons          integer NOT NULL CHECK (persons BETWEEN 1 AND 30),
    district         integer NOT NULL CHECK (district BETWEEN 1 AND 13),
    team_id          text    NOT NULL,
    opened_on        date    NOT NULL,
    status           text    NOT NULL CHECK (status IN ('open', 'closed')),
    -- Where the household lives in municipal accommodation; null once it moved out.
    site_id          uuid,
    site_pillar      text,
    site_since       timestamptz,
    social_worker    text,     -- the staff member's pseudonymous subject, never a name
    language_level   text,
    residence_status text,
    readiness        jsonb,    -- the latest assessment (ReadinessAssessed)
    move_out         jsonb,    -- the planned or completed move-out
    handover         jsonb,    -- structure, receiving partner (an organisation), district, day
    closed_on        date,
    close_reason     text,
    details_erased_on date,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT closed_when CHECK ((status = 'closed') = (closed_on IS NOT NULL))
);
-- One open case per household.
CREATE UNIQUE INDEX cases_open_household ON cases (household_id) WHERE status = 'open';
CREATE INDEX cases_household ON cases (household_id);
CREATE INDEX cases_district ON cases (district, status);
CREATE INDEX cases_retention ON cases (closed_on) WHERE status = 'closed' AND details_erased_on IS NULL;

CREATE TABLE milestones (
    milestone_id     uuid PRIMARY KEY,
    case_id          uuid    NOT NULL REFERENCES cases (case_id),
    milestone        text    NOT NULL,
    reached_on       date    NOT NULL,
    persons          integer NOT NULL CHECK (persons BETWEEN 1 AND 30),
    language_level   text,
    residence_status text,
    recorded_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX milestones_case ON milestones (case_id, reached_on);

CREATE TABLE support_requests (
    request_id        uuid PRIMARY KEY,
    case_id           uuid    NOT NULL REFERENCES cases (case_id),
    skill             text    NOT NULL,
    district          integer NOT NULL CHECK (district BETWEEN 1 AND 13),
    languages         text[]  NOT NULL,
    involves_children boolean NOT NULL,
    hours_per_week    integer NOT NULL,
    schedule          jsonb   NOT NULL,
    requested_on      date    NOT NULL
);
CREATE INDEX support_requests_case ON support_requests (case_id);

-- Personal details: only here, never in an event or a log line; erased on request.
CREATE TABLE people (
    person_id     uuid PRIMARY KEY,  -- the pseudonym allocation's RefugeeAssigned carries
    case_id       uuid NOT NULL REFERENCES cases (case_id),
    household_id  uuid NOT NULL,
    given_name    text NOT NULL,
    family_name   text NOT NULL,
    date_of_birth date,
    phone         text,
    email         text
);
CREATE INDEX people_household ON people (household_id);

-- Erasure requests: pseudonymous ids only, so what was erased can be shown without it.
CREATE TABLE erasures (
    erasure_id   uuid PRIMARY KEY,
    household_id uuid   NOT NULL,
    person_ids   uuid[] NOT NULL,
    reason       text   NOT NULL,
    requested_on date   NOT NULL,
    erased       integer NOT NULL,
    requested_by text,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
