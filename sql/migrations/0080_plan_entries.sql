-- purpose: plan entries stored as the index streams. mrf.finish_ingest used to de-duplicate a temporary table
-- of reporting_plans entries into mrf_private.plan and mrf_private.plan_file_set (two B-tree-keyed tables)
-- after the last byte was parsed: 0.39 s of a 1.4 s ingest of a 1 GB index with 71k plans, serial, long after
-- decompression had finished. The entries now go by COPY straight into mrf_private.plan_entry (BRIN on run_id)
-- while the ingest inflates and parses; plan and plan_file_set become views over it. What publishing still
-- needs from them (the distinct plans, the plan-type evidence) the ingest tallies as it goes, within caps.

SET LOCAL ROLE carepg_owner;

-- One row per reporting_plans entry, COPYed straight in while the index streams (the server stores them while
-- the ingest is still inflating and parsing, instead of de-duplicating them into keyed tables after the last
-- byte). No foreign key and no B-tree: a run's rows are appended together, so a BRIN index on run_id finds them
-- (deleting a replaced run; the distinct-plan count and the plan-type evidence where the ingest could not tally
-- them) at a fraction of a B-tree's per-row cost; autosummarize keeps the ranges a finished run filled summarised.
CREATE TABLE mrf_private.plan_entry (
    run_id bigint NOT NULL,
    set_id integer NOT NULL,
    plan_key bigint NOT NULL,
    plan_name text NOT NULL,
    plan_id_type text,
    plan_id text,
    plan_market_type text,
    issuer_name text,
    plan_sponsor_name text
);
CREATE INDEX plan_entry_run_brin ON mrf_private.plan_entry USING brin (run_id) WITH (autosummarize = on);
COMMENT ON TABLE mrf_private.plan_entry IS
    'carepg: the reporting_plans entries of a run, one row each, as the index lists them (enums lower-cased; v2 fields issuer_name, plan_sponsor_name may be NULL), with the file set of their structure.';
COMMENT ON COLUMN mrf_private.plan_entry.plan_key IS
    'Identifies the plan within its run: a 64-bit hash the ingest computes over the six fields (one bigint to group on instead of six texts).';

-- Every stored (plan, file set) link becomes one entry.
INSERT INTO mrf_private.plan_entry (run_id, set_id, plan_key, plan_name, plan_id_type, plan_id, plan_market_type,
                                    issuer_name, plan_sponsor_name)
SELECT p.run_id, l.set_id, p.plan_key, p.plan_name, p.plan_id_type, p.plan_id, p.plan_market_type, p.issuer_name,
       p.plan_sponsor_name
FROM mrf_private.plan p
JOIN mrf_private.plan_file_set l ON l.run_id = p.run_id AND l.plan_key = p.plan_key
ORDER BY p.run_id;

DROP TABLE mrf_private.plan_file_set;
DROP TABLE mrf_private.plan;

CREATE VIEW mrf_private.plan AS
SELECT DISTINCT ON (e.run_id, e.plan_key)
       e.run_id, e.plan_key, e.plan_name, e.plan_id_type, e.plan_id, e.plan_market_type, e.issuer_name,
       e.plan_sponsor_name
FROM mrf_private.plan_entry e
ORDER BY e.run_id, e.plan_key;
COMMENT ON VIEW mrf_private.plan IS 'carepg: the distinct plans of each run.';

CREATE VIEW mrf_private.plan_file_set AS
SELECT DISTINCT e.run_id, e.plan_key, e.set_id
FROM mrf_private.plan_entry e;
COMMENT ON VIEW mrf_private.plan_file_set IS 'carepg: which file sets each plan is reported with (the compact plan<->file links).';

-- It takes what the ingest tallied while streaming; a new signature, so the old one goes.
DROP FUNCTION mrf.finish_ingest(bigint, text, text, text, text, text, bigint, bigint, bigint, bigint, bigint);

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
    file_links bigint,
    distinct_plans bigint DEFAULT NULL,
    product_set_ids integer[] DEFAULT NULL,
    products text[] DEFAULT NULL,
    product_entries bigint[] DEFAULT NULL,
    product_examples text[] DEFAULT NULL
)
RETURNS TABLE (plans bigint, distinct_files integer, distinct_sets integer, replaced_run_id bigint)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
-- Expects, in this transaction: the run's mrf_private.file, mrf_private.file_set and mrf_private.plan_entry rows.
-- distinct_plans and the product_* arrays are what the ingest tallied while streaming (the distinct plans; for
-- each file set and product part of a plan name, its entries and least name): NULL where it had too many to
-- tally, and then they are derived here from the entries, with the same result.
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

    n_plans := distinct_plans;
    IF n_plans IS NULL THEN  -- grouped on the ingest's 64-bit plan key
        SELECT count(*) INTO n_plans
        FROM (SELECT DISTINCT e.plan_key FROM mrf_private.plan_entry e WHERE e.run_id = finish_ingest.run_id) AS d;
    END IF;

    -- Plan-type evidence: types per file set first (no join on the fresh, un-analysed rows, whose row estimates
    -- would make the planner nest loops), then spread over the set's files. plans counts reporting_plans
    -- entries naming the type in structures that list the file.
    INSERT INTO mrf_private.file_plan_type (run_id, file_id, plan_type, plans, example_plan)
    SELECT finish_ingest.run_id, fid, t.plan_type, sum(t.plans), min(t.example)
    FROM (
        SELECT g.set_id, pt AS plan_type, sum(g.n) AS plans, min(g.example) AS example
        FROM (
            SELECT u.set_id, u.product, u.n, u.example COLLATE "C" AS example
            FROM unnest(product_set_ids, products, product_entries, product_examples) AS u(set_id, product, n, example)
            WHERE product_set_ids IS NOT NULL
            UNION ALL
            -- Only the product part of a name carries its type (see plan_types_of_name): few distinct values.
            SELECT e.set_id, split_part(e.plan_name, ' - ', 1), count(*), min(e.plan_name COLLATE "C")
            FROM mrf_private.plan_entry e
            WHERE product_set_ids IS NULL AND e.run_id = finish_ingest.run_id
            GROUP BY e.set_id, split_part(e.plan_name, ' - ', 1)
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
        DELETE FROM mrf_private.plan_entry x WHERE x.run_id = old_run;
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
COMMENT ON FUNCTION mrf.finish_ingest(bigint, text, text, text, text, text, bigint, bigint, bigint, bigint, bigint, bigint,
                                      integer[], text[], bigint[], text[]) IS
    'Publish a loaded run atomically (call it last in the loading transaction): count its distinct plans, derive the plan-type evidence, swap the payer to this run, delete its previous run''s rows.';

RESET ROLE;
