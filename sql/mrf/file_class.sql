-- purpose: every live file with its state, issuer and plan types, and the evidence for each: why the answer
-- is what it is. SQL owns classification, so a better rule is a change here, not a re-ingest.

SET LOCAL ROLE carepg_owner;

CREATE OR REPLACE VIEW mrf.file_class AS
SELECT
    e.name AS entity_name,
    f.run_id,
    f.file_id,
    f.file_key,
    f.url,
    f.variants,
    f.in_network,
    coalesce(st.state, lk.state) AS state,
    coalesce(st.evidence, lk.state_evidence) AS state_evidence,
    coalesce(iss.issuer, e.name) AS issuer,
    coalesce(iss.own, true) AS own_file,
    coalesce(iss.description, '(no description)') AS issuer_evidence,
    coalesce((SELECT array_agg(DISTINCT t ORDER BY t) FROM unnest(pt.types || lk.types) AS t), '{}') AS plan_types,
    pt.evidence || lk.type_evidence AS plan_type_evidence
FROM mrf_private.reporting_entity e
JOIN mrf_private.file f ON f.run_id = e.current_run_id
CROSS JOIN LATERAL mrf.state_of_name(f.file_key) AS st
LEFT JOIN LATERAL (
    -- An "<plan> : <network>" description wins: the file is another plan's network even if Anthem lists it too.
    SELECT i.issuer, i.own, d AS description
    FROM unnest(f.descriptions) WITH ORDINALITY AS u (d, n)
    CROSS JOIN LATERAL mrf.issuer_of_description(u.d, e.name) AS i
    ORDER BY i.own, u.n
    LIMIT 1
) AS iss ON true
CROSS JOIN LATERAL (
    SELECT coalesce(array_agg(fpt.plan_type), '{}') AS types,
           coalesce(array_agg(format('%s: %s reporting plan(s), e.g. %s', fpt.plan_type, fpt.plans, fpt.example_plan)
                              ORDER BY fpt.plan_type), '{}') AS evidence
    FROM mrf_private.file_plan_type fpt
    WHERE fpt.run_id = f.run_id AND fpt.file_id = f.file_id
) AS pt
CROSS JOIN LATERAL (
    SELECT coalesce(array_agg(DISTINCT mrf.lookup_plan_type(l.display_name))
                        FILTER (WHERE mrf.lookup_plan_type(l.display_name) IS NOT NULL), '{}') AS types,
           coalesce(array_agg(format('EIN lookup: %s', l.display_name) ORDER BY l.display_name)
                        FILTER (WHERE mrf.lookup_plan_type(l.display_name) IS NOT NULL), '{}') AS type_evidence,
           min((mrf.state_of_name(l.display_name)).state) AS state,
           min(format('EIN lookup display name %s: %s', l.display_name, (mrf.state_of_name(l.display_name)).evidence))
               FILTER (WHERE (mrf.state_of_name(l.display_name)).state IS NOT NULL) AS state_evidence
    FROM mrf_private.lookup_entry l
    WHERE l.file_key = f.file_key
) AS lk;
COMMENT ON VIEW mrf.file_class IS
    'carepg: every live file with its state, issuer and plan types, and the evidence for each (file name rule, description, plan names, EIN lookup).';
GRANT SELECT ON mrf.file_class TO carepg_reader;

RESET ROLE;
