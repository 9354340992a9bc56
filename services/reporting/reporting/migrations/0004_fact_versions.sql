-- The API reads only the facts added since it last read (kept_version), and everything
-- again after a rebuild's switch (generation). A batch takes its version from the one
-- fact_version row before inserting, so versions are handed out in commit order.
ALTER TABLE fact ADD COLUMN kept_version bigint NOT NULL DEFAULT 0;
CREATE INDEX fact_kept_version ON fact (kept_version);
ALTER TABLE fact_version ADD COLUMN generation bigint NOT NULL DEFAULT 0;
