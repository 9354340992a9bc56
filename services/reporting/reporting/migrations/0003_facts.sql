-- Reporting keeps one fact per reported event and folds the views from them in memory
-- (reporting.domain.facts). The per-site rows of views 3 are folded now, not stored.
DROP TABLE site_reservation;
DROP TABLE site_capacity;

CREATE TABLE fact (
    event_id       uuid PRIMARY KEY,
    source         text        NOT NULL,
    type           text        NOT NULL,
    schema_version integer     NOT NULL,
    subject        text        NOT NULL,
    sequence       bigint      NOT NULL,
    occurred_at    timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL,
    data           text        NOT NULL
);

-- One row: bumped by every transaction that adds facts, so the API knows when the
-- views it folded are stale (and the rebuild's switch bumps it too).
CREATE TABLE fact_version (
    id      boolean PRIMARY KEY DEFAULT true CHECK (id),
    version bigint  NOT NULL
);
INSERT INTO fact_version VALUES (true, 0);

-- What the last rebuilds did (shown on the dashboard): when, how many events, how fast,
-- and the checksum that proved the rebuilt facts equal the live ones.
CREATE TABLE rebuild_run (
    id             bigserial PRIMARY KEY,
    started_at     timestamptz NOT NULL,
    switched_at    timestamptz NOT NULL,
    events         bigint      NOT NULL,
    facts          bigint      NOT NULL,
    events_per_s   double precision NOT NULL,
    processes      integer     NOT NULL,
    checksum       text        NOT NULL,
    live_checksum  text        NOT NULL,
    behind_live    bigint      NOT NULL
);
