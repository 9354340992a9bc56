-- Reserved places and sites that are planned but not open yet, for view 3.
ALTER TABLE site_capacity ADD COLUMN reserved integer NOT NULL DEFAULT 0;
ALTER TABLE site_capacity ALTER COLUMN operator DROP NOT NULL;
-- Reservations seen, so a check-in turns exactly its reserved places into occupied ones.
CREATE TABLE site_reservation (
    reservation_id uuid PRIMARY KEY,
    site_id        uuid    NOT NULL,
    places         integer NOT NULL,
    open           boolean NOT NULL DEFAULT true
);
