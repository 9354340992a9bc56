-- Read model of view 3 (capacity and occupancy): one row per site, folded from housing events.
CREATE TABLE site_capacity (
    site_id       uuid PRIMARY KEY,
    name          text    NOT NULL,
    pillar        text    NOT NULL,
    district      integer NOT NULL,
    operator      text    NOT NULL,
    capacity      integer NOT NULL,
    blocked       integer NOT NULL DEFAULT 0,
    occupied      integer NOT NULL DEFAULT 0,
    status        text    NOT NULL,
    last_sequence bigint  NOT NULL,
    updated_at    timestamptz NOT NULL
);
