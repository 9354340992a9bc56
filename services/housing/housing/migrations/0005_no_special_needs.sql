-- Reservations carry the household's site requirements (0003) since PlacementDecided v2;
-- the special needs column of 0002 is written no more, but rows from before could still
-- hold needs such as `medical` (health data, Art. 9 GDPR), which are allocation's only.
ALTER TABLE reservations DROP COLUMN special_needs;
