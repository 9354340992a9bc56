-- A test consumer's effect: one row per applied event; `applied` counts applications.
CREATE TABLE effects (
    event_id uuid PRIMARY KEY,
    subject  text    NOT NULL,
    sequence bigint  NOT NULL,
    applied  integer NOT NULL DEFAULT 1
);
