-- Whether this database belongs to a simulation run or to the live city (issue 13).
-- Written once, at the first start; a service refuses to start in the other mode, so a
-- simulated clock can never move a live database's time, nor live data mix with a run.
CREATE TABLE runtime_mode (
    only_row      boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    simulation    boolean     NOT NULL,
    seed          bigint,
    simulated_now timestamptz,  -- the simulated clock, so a restart never goes back
    since         timestamptz NOT NULL DEFAULT now()
);
