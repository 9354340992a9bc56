-- What the city pays for a site (Kostentabelle): the daily rate per occupied place
-- (Tagessatz) and the monthly lump sum (rent, operator contract) in force now. Their
-- history travels as ShelterOpened and ShelterRateChanged, dated from the day they apply.
ALTER TABLE sites
    ADD COLUMN daily_rate numeric(8, 2) CHECK (daily_rate >= 0),
    ADD COLUMN monthly_fixed_cost numeric(12, 2) CHECK (monthly_fixed_cost >= 0);
