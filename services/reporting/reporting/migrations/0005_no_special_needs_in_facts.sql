-- RefugeeAssigned v3 (issue 15) carries the household's site requirements instead of each
-- member's special needs (`medical`, `wheelchair`, …: health data, Art. 9 GDPR, which
-- stays in allocation's database). Facts kept from v2 events still hold the needs: they
-- are removed here. The fact stays at version 2 and is read through the contract's
-- upcaster like any v2 payload; without the needs it derives only the requirements that
-- follow from who lives together (reporting reads none of them).
UPDATE fact
SET data = jsonb_set(
        data::jsonb,
        '{members}',
        (SELECT coalesce(jsonb_agg(m.member - 'special_needs' ORDER BY m.n), '[]'::jsonb)
         FROM jsonb_array_elements(data::jsonb -> 'members') WITH ORDINALITY AS m(member, n))
    )::text
WHERE type = 'RefugeeAssigned'
  AND schema_version = 2
  AND data::jsonb -> 'members' @? '$[*].special_needs';
