-- Readiness is integration's alone (issue 16): allocation no longer records the factors
-- (independence, German, residence prospects) and turns them into a pillar with a rule of
-- its own; it keeps the latest ReadinessAssessed as integration published it and places
-- by its `ready_for`. Factors recorded through allocation's former staff route cannot be
-- turned into a pillar without that rule: those households count as not assessed (a
-- Wohnheim first) until Integrationsmanagement assesses them.
ALTER TABLE households
    DROP COLUMN independence,
    DROP COLUMN german,
    DROP COLUMN residence_prospects,
    ADD COLUMN ready_for text
        CHECK (ready_for IN ('wohnheim', 'wohnprojekt', 'wohnung')),
    ADD COLUMN ready_for_own_tenancy boolean,
    ADD COLUMN readiness_assessed_on date,
    ADD COLUMN readiness_reason text,
    ADD CONSTRAINT households_readiness_whole CHECK (
        (ready_for IS NULL) = (ready_for_own_tenancy IS NULL)
        AND (ready_for IS NULL) = (readiness_assessed_on IS NULL)
        AND (ready_for IS NULL) = (readiness_reason IS NULL)
    );
