-- The residents of the Notunterkünfte in the dissolution order, shelter by shelter: a
-- freeing event asks for the first 200 of them. Without this index it read every resident
-- (a bitmap scan over all housed households, then a sort): 0.75 s an event at 33,000
-- residents in the hundredfold bench run. The predicate is the store's _IN_EMERGENCY.
CREATE INDEX households_in_emergency ON households (site_id, vulnerable, checked_in_at, household_id)
    WHERE status = 'housed' AND site_pillar = 'notunterkunft' AND pending IS NULL;
