-- purpose: undo 0080: mrf_private.plan and mrf_private.plan_file_set as tables again, filled from the entries,
-- and mrf.finish_ingest as 0040 left it (it de-duplicates the temporary table pg_temp.mrf_staged_plan).

SET LOCAL ROLE carepg_owner;

DROP VIEW mrf_private.plan_file_set;
DROP VIEW mrf_private.plan;

-- mrf_private.plan and mrf_private.plan_file_set hold 10^5-10^6 rows per run and are written only by mrf.finish_ingest, which
-- derives both from the same staged rows: no foreign keys on them (per-row RI checks cost seconds per ingest).
CREATE TABLE mrf_private.plan (
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
COMMENT ON TABLE mrf_private.plan IS
    'carepg: distinct reporting_plans entries of a run (enums lower-cased; v2 fields issuer_name, plan_sponsor_name may be NULL).';
COMMENT ON COLUMN mrf_private.plan.plan_key IS
    'Identifies the plan within its run: a 64-bit hash the ingest computes over the six fields (one bigint to group on instead of six texts).';

CREATE TABLE mrf_private.plan_file_set (
    run_id bigint NOT NULL,
    plan_key bigint NOT NULL,
    set_id integer NOT NULL,
    PRIMARY KEY (run_id, plan_key, set_id)
);
COMMENT ON TABLE mrf_private.plan_file_set IS 'carepg: which file sets each plan is reported with (the compact plan<->file links).';

INSERT INTO mrf_private.plan (run_id, plan_key, plan_name, plan_id_type, plan_id, plan_market_type, issuer_name,
                              plan_sponsor_name)
SELECT DISTINCT ON (e.run_id, e.plan_key) e.run_id, e.plan_key, e.plan_name, e.plan_id_type, e.plan_id,
       e.plan_market_type, e.issuer_name, e.plan_sponsor_name
FROM mrf_private.plan_entry e
ORDER BY e.run_id, e.plan_key;
INSERT INTO mrf_private.plan_file_set (run_id, plan_key, set_id)
SELECT DISTINCT e.run_id, e.plan_key, e.set_id FROM mrf_private.plan_entry e;

DROP TABLE mrf_private.plan_entry;

DROP FUNCTION mrf.finish_ingest(bigint, text, text, text, text, text, bigint, bigint, bigint, bigint, bigint, bigint,
                                integer[], text[], bigint[], text[]);

CREATE OR REPLACE FUNCTION mrf.finish_ingest(
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
-- Expects, in this transaction: mrf_private.file and mrf_private.file_set rows for the run, and the temporary table
-- pg_temp.mrf_staged_plan (ord, set_id, plan_key, plan_name, plan_id_type, plan_id, plan_market_type,
-- issuer_name, plan_sponsor_name) with one row per reporting_plans entry.
DECLARE
    old_run bigint;
    n_plans bigint;
    n_files integer;
    n_sets integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM mrf_private.ingest_run r WHERE r.run_id = finish_ingest.run_id AND r.status = 'running') THEN
        RAISE EXCEPTION 'ingest run % is not running', finish_ingest.run_id USING ERRCODE = 'CP409';
    END IF;
    IF entity_name IS NULL OR btrim(entity_name) = '' THEN
        RAISE EXCEPTION 'the table of contents has no reporting_entity_name' USING ERRCODE = 'CP400';
    END IF;

    -- Distinct plans and the distinct (plan, file set) links, grouped on the ingest's 64-bit plan key.
    INSERT INTO mrf_private.plan (run_id, plan_key, plan_name, plan_id_type, plan_id, plan_market_type, issuer_name,
                          plan_sponsor_name)
    SELECT DISTINCT ON (s.plan_key) finish_ingest.run_id, s.plan_key, s.plan_name, s.plan_id_type, s.plan_id,
           s.plan_market_type, s.issuer_name, s.plan_sponsor_name
    FROM pg_temp.mrf_staged_plan s
    ORDER BY s.plan_key;
    INSERT INTO mrf_private.plan_file_set (run_id, plan_key, set_id)
    SELECT finish_ingest.run_id, s.plan_key, s.set_id
    FROM pg_temp.mrf_staged_plan s
    GROUP BY s.plan_key, s.set_id;
    SELECT count(*) INTO n_plans FROM mrf_private.plan p WHERE p.run_id = finish_ingest.run_id;

    -- Plan-type evidence, straight from the staged rows (no join on fresh, un-analysed tables, whose row
    -- estimates of 1 would make the planner nest loops): types per file set first, then spread over the
    -- set's files. plans counts reporting_plans entries naming the type in structures that list the file.
    INSERT INTO mrf_private.file_plan_type (run_id, file_id, plan_type, plans, example_plan)
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
    JOIN mrf_private.file_set fs ON fs.run_id = finish_ingest.run_id AND fs.set_id = t.set_id
    CROSS JOIN LATERAL unnest(fs.file_ids) AS fid
    GROUP BY fid, t.plan_type;

    SELECT count(*) INTO n_files FROM mrf_private.file f WHERE f.run_id = finish_ingest.run_id;
    SELECT count(*) INTO n_sets FROM mrf_private.file_set fs WHERE fs.run_id = finish_ingest.run_id;

    -- Swap the payer to this run (the row lock serialises two ingests of the same payer), then drop the old data.
    INSERT INTO mrf_private.reporting_entity AS e (name, entity_type, version, last_updated_on, current_run_id)
    VALUES (finish_ingest.entity_name, finish_ingest.entity_type, finish_ingest.version,
            finish_ingest.last_updated_on, finish_ingest.run_id)
    ON CONFLICT (name) DO NOTHING;
    IF NOT FOUND THEN
        SELECT e.current_run_id INTO old_run FROM mrf_private.reporting_entity e
        WHERE e.name = finish_ingest.entity_name FOR UPDATE;
        UPDATE mrf_private.reporting_entity e
        SET entity_type = finish_ingest.entity_type, version = finish_ingest.version,
            last_updated_on = finish_ingest.last_updated_on, current_run_id = finish_ingest.run_id
        WHERE e.name = finish_ingest.entity_name;
        DELETE FROM mrf_private.file_plan_type x WHERE x.run_id = old_run;
        DELETE FROM mrf_private.plan_file_set x WHERE x.run_id = old_run;
        DELETE FROM mrf_private.plan x WHERE x.run_id = old_run;
        DELETE FROM mrf_private.file_set x WHERE x.run_id = old_run;
        DELETE FROM mrf_private.file x WHERE x.run_id = old_run;
    END IF;

    UPDATE mrf_private.ingest_run r
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

RESET ROLE;
