-- purpose: the answer: which in-network files make up a payer's network of one plan type in one state.
-- SECURITY DEFINER, so carepg_reader needs no table: fixed search_path, qualified names, no dynamic SQL.

SET LOCAL ROLE carepg_owner;

CREATE OR REPLACE FUNCTION mrf.network_files(state text, plan_type text, issuer text DEFAULT NULL)
RETURNS TABLE (url text, file_key text, entity_name text, file_issuer text, plan_types text[])
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF state IS NULL OR state !~ '^[A-Za-z]{2}$' THEN
        RAISE EXCEPTION 'state must be a two-letter code, got %', coalesce(quote_literal(state), 'NULL')
            USING ERRCODE = 'CP400', HINT = 'e.g. NY';
    END IF;
    IF plan_type IS NULL OR upper(plan_type) NOT IN ('PPO', 'EPO', 'POS', 'HMO', 'FFS') THEN
        RAISE EXCEPTION 'unknown plan type %', coalesce(quote_literal(plan_type), 'NULL')
            USING ERRCODE = 'CP400', HINT = 'one of PPO, EPO, POS, HMO, FFS';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM mrf_private.reporting_entity) THEN
        RAISE EXCEPTION 'no table of contents has been ingested'
            USING ERRCODE = 'CP404', HINT = 'ingest a payer''s table of contents first, e.g. with the carepg mrf ingest command';
    END IF;
    RETURN QUERY
    SELECT c.url, c.file_key, c.entity_name, c.issuer, c.plan_types
    FROM mrf.file_class c
    WHERE c.in_network
      AND c.state = upper(network_files.state)
      AND upper(network_files.plan_type) = ANY (c.plan_types)
      AND CASE
              WHEN network_files.issuer IS NULL THEN c.own_file
              WHEN network_files.issuer = '*' THEN true
              ELSE starts_with(lower(c.issuer), lower(network_files.issuer))
          END
    ORDER BY c.url COLLATE "C";  -- byte order: the same on every server, whatever its default collation
END
$function$;
COMMENT ON FUNCTION mrf.network_files(text, text, text) IS
    'In-network files of a state and plan type, one row per distinct file, sorted by URL (byte order). issuer: NULL = the payers'' own files (not other Blue plans'' networks), ''*'' = any, else an issuer-name prefix (case-insensitive).';
GRANT EXECUTE ON FUNCTION mrf.network_files(text, text, text) TO carepg_reader;

RESET ROLE;
