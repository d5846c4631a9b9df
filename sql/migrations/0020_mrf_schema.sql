-- purpose: the price-transparency index (issue 6): schema mrf, its tables, classification and public functions.
--
-- One ingest run loads one payer's table of contents (TOC). Everything a run loads is keyed by run_id and
-- becomes visible in one commit (mrf.finish_ingest), which also points the payer at the new run and deletes
-- the previous run's rows: readers see the old index or the new one, never a mix. A failed run is recorded by
-- mrf.fail_ingest on another connection after the loading transaction rolled back, so nothing partial is seen.
--
-- Tens of millions of (plan, file) links are stored as distinct file sets: a reporting structure's file list
-- becomes one mrf.file_set row (an int[] of file ids) shared by every structure that lists the same files.
--
-- Errors use carepg's SQLSTATEs (class CP):
--   CP400  an argument is invalid (unknown plan type, malformed state code)
--   CP404  nothing to answer from (no table of contents ingested; unknown run)
--   CP409  the run is not in a state that allows this (finishing a run twice)

CREATE SCHEMA mrf;
COMMENT ON SCHEMA mrf IS
    'carepg: price-transparency index (issue 6). Public API: network_files(), file_class view, ingest bookkeeping functions.';

-- --- reference data (rows in 0020_mrf_reference.sql) --------------------------------------------------------

CREATE TABLE mrf.us_state (
    code text PRIMARY KEY CHECK (code ~ '^[A-Z]{2}$'),
    name text NOT NULL
);
COMMENT ON TABLE mrf.us_state IS
    'carepg: two-letter state codes that may open an Anthem file name (NY_...) or an EIN-lookup display name.';

CREATE TABLE mrf.bcbs_plan_code (
    code text PRIMARY KEY CHECK (code ~ '^[0-9]{3}$'),
    state text NOT NULL REFERENCES mrf.us_state (code),
    plan_name text NOT NULL,
    evidence text NOT NULL
);
COMMENT ON TABLE mrf.bcbs_plan_code IS
    'carepg: BCBSA 3-digit plan code (the NNN in YYYY-MM_NNN_..._in-network-rates files on *.mrf.bcbs.com) -> state.';
COMMENT ON COLUMN mrf.bcbs_plan_code.evidence IS 'Where the mapping comes from (EIN-lookup display names, public notes).';

-- --- ingest bookkeeping --------------------------------------------------------------------------------------

CREATE TABLE mrf.ingest_run (
    run_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source text NOT NULL,
    size_bytes bigint,
    bytes_read bigint NOT NULL DEFAULT 0,
    raw_bytes bigint NOT NULL DEFAULT 0,
    started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz,
    status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
    error text,
    entity_name text,
    parser text,
    structures bigint,
    plan_links bigint,
    plans bigint,
    file_links bigint,
    distinct_files integer,
    distinct_sets integer,
    CHECK ((status = 'running') = (finished_at IS NULL)),
    CHECK ((status = 'failed') = (error IS NOT NULL))
);
COMMENT ON TABLE mrf.ingest_run IS
    'carepg: one row per `carepg mrf ingest`: source, sizes, timing, status and counts; failed runs keep their error.';
COMMENT ON COLUMN mrf.ingest_run.bytes_read IS 'Bytes read from the source (compressed bytes for .gz).';
COMMENT ON COLUMN mrf.ingest_run.raw_bytes IS 'Bytes of JSON text after decompression.';
COMMENT ON COLUMN mrf.ingest_run.parser IS 'line: the one-structure-per-line fast path held throughout; ijson: the general parser took over.';
COMMENT ON COLUMN mrf.ingest_run.plan_links IS 'reporting_plans entries read (before de-duplication).';
COMMENT ON COLUMN mrf.ingest_run.file_links IS 'in_network_files / allowed_amount_file entries read (before de-duplication).';

CREATE TABLE mrf.reporting_entity (
    entity_id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE,
    entity_type text,
    version text,
    last_updated_on text,
    current_run_id bigint NOT NULL UNIQUE REFERENCES mrf.ingest_run (run_id)
);
COMMENT ON TABLE mrf.reporting_entity IS
    'carepg: a payer (reporting_entity_name) and the run whose data is live for it; re-ingesting swaps current_run_id.';

-- --- one run's data ------------------------------------------------------------------------------------------

CREATE TABLE mrf.file (
    run_id bigint NOT NULL REFERENCES mrf.ingest_run (run_id),
    file_id integer NOT NULL,
    file_key text NOT NULL,
    url text NOT NULL,
    variants integer NOT NULL CHECK (variants >= 1),
    descriptions text[] NOT NULL,
    in_network boolean NOT NULL,
    allowed_amount boolean NOT NULL,
    PRIMARY KEY (run_id, file_id),
    UNIQUE (run_id, file_key)
);
COMMENT ON TABLE mrf.file IS
    'carepg: distinct files of a run. file_key = the URL path without host and query string (the same file is served from many brand hosts with different signatures).';
COMMENT ON COLUMN mrf.file.url IS 'The first full URL seen for the file: the one handed out.';
COMMENT ON COLUMN mrf.file.variants IS 'Distinct full URLs (hosts, signatures) seen for this file_key.';
COMMENT ON COLUMN mrf.file.descriptions IS 'Distinct descriptions the TOC gives the file, in order of appearance.';

CREATE TABLE mrf.file_set (
    run_id bigint NOT NULL REFERENCES mrf.ingest_run (run_id),
    set_id integer NOT NULL,
    file_ids integer[] NOT NULL,
    structures bigint NOT NULL,
    PRIMARY KEY (run_id, set_id)
);
COMMENT ON TABLE mrf.file_set IS
    'carepg: distinct file lists (sorted file ids) of a run; structures = reporting_structure elements listing exactly these files.';

-- mrf.plan and mrf.plan_file_set hold 10^5-10^6 rows per run and are written only by mrf.finish_ingest, which
-- derives both from the same staged rows: no foreign keys on them (per-row RI checks cost seconds per ingest).
CREATE TABLE mrf.plan (
    run_id bigint NOT NULL,
    plan_key bigint NOT NULL,
    plan_name text NOT NULL,
    plan_id_type text,
    plan_id text,
    plan_market_type text,
    issuer_name text,
    plan_sponsor_name text,
    PRIMARY KEY (run_id, plan_key)
);
COMMENT ON TABLE mrf.plan IS
    'carepg: distinct reporting_plans entries of a run (enums lower-cased; v2 fields issuer_name, plan_sponsor_name may be NULL).';
COMMENT ON COLUMN mrf.plan.plan_key IS
    'Identifies the plan within its run: a 64-bit hash the ingest computes over the six fields (one bigint to group on instead of six texts).';

CREATE TABLE mrf.plan_file_set (
    run_id bigint NOT NULL,
    plan_key bigint NOT NULL,
    set_id integer NOT NULL,
    PRIMARY KEY (run_id, plan_key, set_id)
);
COMMENT ON TABLE mrf.plan_file_set IS 'carepg: which file sets each plan is reported with (the compact plan<->file links).';

CREATE TABLE mrf.file_plan_type (
    run_id bigint NOT NULL,
    file_id integer NOT NULL,
    plan_type text NOT NULL,
    plans bigint NOT NULL,
    example_plan text NOT NULL,
    PRIMARY KEY (run_id, file_id, plan_type),
    FOREIGN KEY (run_id, file_id) REFERENCES mrf.file (run_id, file_id)
);
COMMENT ON TABLE mrf.file_plan_type IS
    'carepg: plan-type evidence from plan names, computed when a run finishes: how many reporting_plans entries naming the type sit in structures listing the file, and one such plan.';

CREATE TABLE mrf.lookup_entry (
    file_key text NOT NULL,
    display_name text NOT NULL,
    category text NOT NULL,
    url text NOT NULL,
    source text NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (file_key, display_name, category)
);
COMMENT ON TABLE mrf.lookup_entry IS
    'carepg: entries of Anthem EIN-lookup documents ({url, displayname} under category keys), joined to files by file_key; they add plan types (NY_PPO_...) and states.';

-- --- classification ------------------------------------------------------------------------------------------

CREATE FUNCTION mrf.plan_types_of_name(plan_name text)
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

CREATE FUNCTION mrf.lookup_plan_type(display_name text)
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

CREATE FUNCTION mrf.state_of_name(name text, OUT state text, OUT evidence text)
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

CREATE FUNCTION mrf.issuer_of_description(description text, entity_name text, OUT issuer text, OUT own boolean)
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

CREATE VIEW mrf.file_class AS
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
FROM mrf.reporting_entity e
JOIN mrf.file f ON f.run_id = e.current_run_id
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
    FROM mrf.file_plan_type fpt
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
    FROM mrf.lookup_entry l
    WHERE l.file_key = f.file_key
) AS lk;
COMMENT ON VIEW mrf.file_class IS
    'carepg: every live file with its state, issuer and plan types, and the evidence for each (file name rule, description, plan names, EIN lookup).';

-- --- public functions ----------------------------------------------------------------------------------------

CREATE FUNCTION mrf.network_files(state text, plan_type text, issuer text DEFAULT NULL)
RETURNS TABLE (url text, file_key text, entity_name text, file_issuer text, plan_types text[])
LANGUAGE plpgsql
STABLE
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
    IF NOT EXISTS (SELECT 1 FROM mrf.reporting_entity) THEN
        RAISE EXCEPTION 'no table of contents has been ingested'
            USING ERRCODE = 'CP404', HINT = 'run `carepg mrf ingest SOURCE` first';
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

CREATE FUNCTION mrf.start_ingest(source text, size_bytes bigint)
RETURNS bigint
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
    INSERT INTO mrf.ingest_run (source, size_bytes) VALUES (source, size_bytes) RETURNING run_id
$function$;
COMMENT ON FUNCTION mrf.start_ingest(text, bigint) IS 'Record a new ingest run (status running) and return its id; call it outside the loading transaction.';

CREATE FUNCTION mrf.fail_ingest(run_id bigint, error text, bytes_read bigint, raw_bytes bigint)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    UPDATE mrf.ingest_run r
    SET status = 'failed', error = fail_ingest.error, finished_at = clock_timestamp(),
        bytes_read = fail_ingest.bytes_read, raw_bytes = fail_ingest.raw_bytes
    WHERE r.run_id = fail_ingest.run_id AND r.status = 'running';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ingest run % is not running', fail_ingest.run_id USING ERRCODE = 'CP409';
    END IF;
END
$function$;
COMMENT ON FUNCTION mrf.fail_ingest(bigint, text, bigint, bigint) IS
    'Mark a run failed with its error; call it after the loading transaction rolled back (the previous index stays live).';

CREATE FUNCTION mrf.finish_ingest(
    run_id bigint,
    entity_name text,
    entity_type text,
    version text,
    last_updated_on text,
    parser text,
    bytes_read bigint,
    raw_bytes bigint,
    structures bigint,
    plan_links bigint,
    file_links bigint
)
RETURNS TABLE (plans bigint, distinct_files integer, distinct_sets integer, replaced_run_id bigint)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
-- Expects, in this transaction: mrf.file and mrf.file_set rows for the run, and the temporary table
-- pg_temp.mrf_staged_plan (ord, set_id, plan_key, plan_name, plan_id_type, plan_id, plan_market_type,
-- issuer_name, plan_sponsor_name) with one row per reporting_plans entry.
DECLARE
    old_run bigint;
    n_plans bigint;
    n_files integer;
    n_sets integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM mrf.ingest_run r WHERE r.run_id = finish_ingest.run_id AND r.status = 'running') THEN
        RAISE EXCEPTION 'ingest run % is not running', finish_ingest.run_id USING ERRCODE = 'CP409';
    END IF;
    IF entity_name IS NULL OR btrim(entity_name) = '' THEN
        RAISE EXCEPTION 'the table of contents has no reporting_entity_name' USING ERRCODE = 'CP400';
    END IF;

    -- Distinct plans and the distinct (plan, file set) links, grouped on the ingest's 64-bit plan key.
    INSERT INTO mrf.plan (run_id, plan_key, plan_name, plan_id_type, plan_id, plan_market_type, issuer_name,
                          plan_sponsor_name)
    SELECT DISTINCT ON (s.plan_key) finish_ingest.run_id, s.plan_key, s.plan_name, s.plan_id_type, s.plan_id,
           s.plan_market_type, s.issuer_name, s.plan_sponsor_name
    FROM pg_temp.mrf_staged_plan s
    ORDER BY s.plan_key;
    INSERT INTO mrf.plan_file_set (run_id, plan_key, set_id)
    SELECT finish_ingest.run_id, s.plan_key, s.set_id
    FROM pg_temp.mrf_staged_plan s
    GROUP BY s.plan_key, s.set_id;
    SELECT count(*) INTO n_plans FROM mrf.plan p WHERE p.run_id = finish_ingest.run_id;

    -- Plan-type evidence, straight from the staged rows (no join on fresh, un-analysed tables, whose row
    -- estimates of 1 would make the planner nest loops): types per file set first, then spread over the
    -- set's files. plans counts reporting_plans entries naming the type in structures that list the file.
    INSERT INTO mrf.file_plan_type (run_id, file_id, plan_type, plans, example_plan)
    SELECT finish_ingest.run_id, fid, t.plan_type, sum(t.plans), min(t.example)
    FROM (
        SELECT g.set_id, pt AS plan_type, sum(g.n) AS plans, min(g.example) AS example
        FROM (
            -- Only the product part of a name carries its type (see plan_types_of_name): few distinct values.
            SELECT s.set_id, split_part(s.plan_name, ' - ', 1) AS product, count(*) AS n,
                   min(s.plan_name COLLATE "C") AS example
            FROM pg_temp.mrf_staged_plan s
            GROUP BY s.set_id, split_part(s.plan_name, ' - ', 1)
        ) AS g
        CROSS JOIN LATERAL unnest(mrf.plan_types_of_name(g.product)) AS pt
        GROUP BY g.set_id, pt
    ) AS t
    JOIN mrf.file_set fs ON fs.run_id = finish_ingest.run_id AND fs.set_id = t.set_id
    CROSS JOIN LATERAL unnest(fs.file_ids) AS fid
    GROUP BY fid, t.plan_type;

    SELECT count(*) INTO n_files FROM mrf.file f WHERE f.run_id = finish_ingest.run_id;
    SELECT count(*) INTO n_sets FROM mrf.file_set fs WHERE fs.run_id = finish_ingest.run_id;

    -- Swap the payer to this run (the row lock serialises two ingests of the same payer), then drop the old data.
    INSERT INTO mrf.reporting_entity AS e (name, entity_type, version, last_updated_on, current_run_id)
    VALUES (finish_ingest.entity_name, finish_ingest.entity_type, finish_ingest.version,
            finish_ingest.last_updated_on, finish_ingest.run_id)
    ON CONFLICT (name) DO NOTHING;
    IF NOT FOUND THEN
        SELECT e.current_run_id INTO old_run FROM mrf.reporting_entity e
        WHERE e.name = finish_ingest.entity_name FOR UPDATE;
        UPDATE mrf.reporting_entity e
        SET entity_type = finish_ingest.entity_type, version = finish_ingest.version,
            last_updated_on = finish_ingest.last_updated_on, current_run_id = finish_ingest.run_id
        WHERE e.name = finish_ingest.entity_name;
        DELETE FROM mrf.file_plan_type x WHERE x.run_id = old_run;
        DELETE FROM mrf.plan_file_set x WHERE x.run_id = old_run;
        DELETE FROM mrf.plan x WHERE x.run_id = old_run;
        DELETE FROM mrf.file_set x WHERE x.run_id = old_run;
        DELETE FROM mrf.file x WHERE x.run_id = old_run;
    END IF;

    UPDATE mrf.ingest_run r
    SET status = 'succeeded', finished_at = clock_timestamp(), entity_name = finish_ingest.entity_name,
        parser = finish_ingest.parser, bytes_read = finish_ingest.bytes_read, raw_bytes = finish_ingest.raw_bytes,
        structures = finish_ingest.structures, plan_links = finish_ingest.plan_links, plans = n_plans,
        file_links = finish_ingest.file_links, distinct_files = n_files, distinct_sets = n_sets
    WHERE r.run_id = finish_ingest.run_id;

    RETURN QUERY SELECT n_plans, n_files, n_sets, old_run;
END
$function$;
COMMENT ON FUNCTION mrf.finish_ingest(bigint, text, text, text, text, text, bigint, bigint, bigint, bigint, bigint) IS
    'Publish a loaded run atomically (call it last in the loading transaction): distinct plans and links, plan-type evidence, swap the payer to this run, delete its previous run''s rows.';

CREATE FUNCTION mrf.load_lookup(source text, entries jsonb)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    n integer;
BEGIN
    IF jsonb_typeof(entries) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'lookup entries must be a JSON array' USING ERRCODE = 'CP400';
    END IF;
    INSERT INTO mrf.lookup_entry AS l (file_key, display_name, category, url, source)
    SELECT DISTINCT ON (e->>'file_key', e->>'display_name', e->>'category')
           e->>'file_key', e->>'display_name', e->>'category', e->>'url', load_lookup.source
    FROM jsonb_array_elements(entries) AS e
    WHERE coalesce(e->>'file_key', '') <> '' AND coalesce(e->>'display_name', '') <> ''
    ON CONFLICT (file_key, display_name, category)
        DO UPDATE SET url = excluded.url, source = excluded.source, loaded_at = clock_timestamp();
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$function$;
COMMENT ON FUNCTION mrf.load_lookup(text, jsonb) IS
    'Store EIN-lookup entries ([{file_key, display_name, category, url}]); re-loading the same document is idempotent. Returns the rows written.';
