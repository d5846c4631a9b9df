-- purpose: the classification rules: plan types from plan names and EIN-lookup display names, a state from a
-- file name, an issuer from a description. Pure functions; carepg_reader may call them (the view
-- mrf.file_class does, with its reader's rights).

SET LOCAL ROLE carepg_owner;

CREATE OR REPLACE FUNCTION mrf.plan_types_of_name(plan_name text)
RETURNS text[]
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    -- '<product> - <employer> - ANTHEM': only the product part counts, so an employer called
    -- 'HMO CONSULTING LLC' does not make a PPO plan an HMO.
    SELECT coalesce(array_agg(DISTINCT m[1] ORDER BY m[1]), '{}')
    FROM regexp_matches(upper(split_part(plan_name, ' - ', 1)), '\m(PPO|EPO|POS|HMO)\M', 'g') AS m
$function$;
COMMENT ON FUNCTION mrf.plan_types_of_name(text) IS
    'Plan types (PPO, EPO, POS, HMO) a plan name states in its product part (before the first " - ").';

CREATE OR REPLACE FUNCTION mrf.lookup_plan_type(display_name text)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT (regexp_match(display_name, '^[A-Z]{2}_(PPO|EPO|POS|HMO|FFS)_'))[1]
$function$;
COMMENT ON FUNCTION mrf.lookup_plan_type(text) IS
    'The plan type an EIN-lookup display name carries (NY_PPO_GGHAMEDAP33_01_09.json.gz -> PPO), else NULL.';

CREATE OR REPLACE FUNCTION mrf.state_of_name(name text, OUT state text, OUT evidence text)
LANGUAGE sql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    WITH base AS (SELECT regexp_replace(name, '^.*/', '') AS b)
    SELECT coalesce(s.code, p.state, d.code),
           CASE WHEN s.code IS NOT NULL THEN format('file name starts %s_ (%s)', s.code, s.name)
                WHEN p.state IS NOT NULL THEN format('BCBS plan code %s = %s, %s (%s)', p.code, p.plan_name, p.state, p.evidence)
                WHEN d.code IS NOT NULL THEN format('dated name YYYY-MM_%s_ (%s)', d.code, d.name)
           END
    FROM base
    LEFT JOIN mrf.us_state s ON s.code = substring(base.b FROM '^([A-Z]{2})_')
    LEFT JOIN mrf.bcbs_plan_code p ON p.code = substring(base.b FROM '^[0-9]{4}-[0-9]{2}_([0-9]{3})_')
    LEFT JOIN mrf.us_state d ON d.code = substring(base.b FROM '^[0-9]{4}-[0-9]{2}_([A-Z]{2})_')
$function$;
COMMENT ON FUNCTION mrf.state_of_name(text) IS
    'State of a file key or display name, with the rule that gave it: ST_ prefix (Anthem S3 files), BCBS plan code, or YYYY-MM_ST_ (lookup display names).';

CREATE OR REPLACE FUNCTION mrf.issuer_of_description(description text, entity_name text, OUT issuer text, OUT own boolean)
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    -- '<Blue plan> : <network>' names another plan's network (BlueCard); any other description is the payer's own.
    SELECT coalesce(m[1], entity_name), m IS NULL
    FROM (SELECT regexp_match(description, '^\s*(\S.*?)\s+:\s+\S') AS m) AS x
$function$;
COMMENT ON FUNCTION mrf.issuer_of_description(text, text) IS
    'Issuer of a file from its description: "<plan> : <network>" -> <plan> (another Blue plan), anything else -> the reporting entity.';
GRANT EXECUTE ON FUNCTION mrf.plan_types_of_name(text), mrf.lookup_plan_type(text), mrf.state_of_name(text),
    mrf.issuer_of_description(text, text) TO carepg_reader;

RESET ROLE;
