-- Sites (Unterkünfte) and their places. Housing is the only authority on beds.
CREATE TABLE sites (
    site_id    uuid PRIMARY KEY,
    name       text    NOT NULL,
    pillar     text    NOT NULL CHECK (pillar IN ('wohnheim', 'wohnprojekt', 'wohnung', 'notunterkunft')),
    district   integer NOT NULL CHECK (district BETWEEN 1 AND 13),
    operator   text    NOT NULL,
    capacity   integer NOT NULL CHECK (capacity >= 0),
    blocked    integer NOT NULL DEFAULT 0 CHECK (blocked >= 0),
    occupied   integer NOT NULL DEFAULT 0 CHECK (occupied >= 0),
    status     text    NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- The last line of defence: no site is ever over its usable capacity.
    CONSTRAINT within_capacity CHECK (occupied + blocked <= capacity)
);
CREATE INDEX sites_pillar_district ON sites (pillar, district);
