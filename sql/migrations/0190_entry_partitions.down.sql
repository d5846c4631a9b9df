SET LOCAL ROLE carepg_owner;

CREATE OR REPLACE FUNCTION mrf.start_ingest(source text, size_bytes bigint)
 RETURNS bigint
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    new_run bigint;
BEGIN
    INSERT INTO mrf_private.ingest_run (source, size_bytes)
    VALUES (start_ingest.source, start_ingest.size_bytes)
    RETURNING ingest_run.run_id INTO new_run;
    -- In the transaction that records the run: whoever sees it running also sees its lock (see mrf.runs).
    PERFORM mrf.hold_run_lock(new_run);
    RETURN new_run;
END
$function$;

CREATE OR REPLACE FUNCTION mrf.fail_ingest(run_id bigint, error text, bytes_read bigint, raw_bytes bigint)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    UPDATE mrf_private.ingest_run r
    SET status = 'failed', error = fail_ingest.error, finished_at = clock_timestamp(),
        bytes_read = fail_ingest.bytes_read, raw_bytes = fail_ingest.raw_bytes
    WHERE r.run_id = fail_ingest.run_id AND r.status = 'running';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ingest run % is not running', fail_ingest.run_id USING ERRCODE = 'CP409';
    END IF;
END
$function$;

CREATE OR REPLACE FUNCTION mrf.finish_ingest(run_id bigint, entity_name text, entity_type text, version text, last_updated_on text, parser text, bytes_read bigint, raw_bytes bigint, structures bigint, plan_links bigint, file_links bigint, distinct_plans bigint DEFAULT NULL::bigint, product_set_ids integer[] DEFAULT NULL::integer[], products text[] DEFAULT NULL::text[], product_entries bigint[] DEFAULT NULL::bigint[], product_examples text[] DEFAULT NULL::text[])
 RETURNS TABLE(plans bigint, distinct_files integer, distinct_sets integer, replaced_run_id bigint)
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
-- Expects, in this transaction: the run's mrf_private.file, mrf_private.file_set and mrf_private.plan_entry rows.
-- distinct_plans and the product_* arrays are what the ingest tallied while streaming (the distinct plans; for
-- each file set and product part of a plan name, its entries and least name): NULL where it had too many to
-- tally, and then they are derived here from the entries, with the same result.
DECLARE
    old_run bigint;
    -- The run whose entries this transaction deleted early (mrf.discard_previous_entries), if any.
    discarded constant bigint := nullif(current_setting('carepg.mrf_discarded_run', true), '')::bigint;
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
        IF discarded IS DISTINCT FROM old_run THEN  -- (mrf.discard_previous_entries did it already, or not)
            DELETE FROM mrf_private.plan_entry x WHERE x.run_id = old_run;
        END IF;
        DELETE FROM mrf_private.file_plan_type x WHERE x.run_id = old_run;
        DELETE FROM mrf_private.file_set x WHERE x.run_id = old_run;
        DELETE FROM mrf_private.file x WHERE x.run_id = old_run;
    END IF;
    IF discarded IS DISTINCT FROM old_run AND discarded IS NOT NULL THEN
        RAISE EXCEPTION 'the table of contents names two payers (reporting_entity_name changed after its header)'
            USING ERRCODE = 'CP400';
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

CREATE OR REPLACE FUNCTION mrf.runs(max_rows integer DEFAULT 10)
 RETURNS TABLE(run_id bigint, source text, status text, entity_name text, parser text, started_at timestamp with time zone, finished_at timestamp with time zone, size_bytes bigint, bytes_read bigint, raw_bytes bigint, structures bigint, plans bigint, distinct_files integer, error text)
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    IF max_rows IS NULL OR max_rows < 1 OR max_rows > 1000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 1000, got %', coalesce(max_rows::text, 'NULL')
            USING ERRCODE = 'CP400';
    END IF;
    RETURN QUERY
    SELECT r.run_id, r.source,
           CASE WHEN r.status = 'running' AND NOT EXISTS (
                    SELECT FROM pg_locks AS l, mrf.run_lock_key(r.run_id) AS k
                    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                      AND l.database = (SELECT d.oid FROM pg_database AS d WHERE d.datname = current_database())
                      AND l.classid = k.class::oid AND l.objid = k.key::oid)
                THEN 'abandoned' ELSE r.status END,
           r.entity_name, r.parser, r.started_at, r.finished_at, r.size_bytes, r.bytes_read, r.raw_bytes,
           r.structures, r.plans, r.distinct_files, r.error
    FROM mrf_private.ingest_run AS r
    ORDER BY r.run_id DESC
    LIMIT max_rows;
END
$function$;

CREATE OR REPLACE FUNCTION mrf.discard_previous_entries(entity_name text)
 RETURNS bigint
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
-- Deleting the replaced run's plan entries is most of publishing (one row per reporting_plans entry); done here,
-- at the start of the loading transaction, it overlaps the stream instead. Nothing is visible until the commit
-- and a rollback restores them, so readers see the old index or the new one as before. The payer's row stays
-- locked until then, so a concurrent ingest of the same payer finds it locked, skips this, and publishes after.
DECLARE
    previous bigint;
BEGIN
    SELECT e.current_run_id INTO previous
    FROM mrf_private.reporting_entity e
    WHERE e.name = discard_previous_entries.entity_name
    FOR UPDATE SKIP LOCKED;
    IF previous IS NOT NULL THEN
        DELETE FROM mrf_private.plan_entry x WHERE x.run_id = previous;
        PERFORM set_config('carepg.mrf_discarded_run', previous::text, true);  -- for mrf.finish_ingest
    END IF;
    RETURN previous;
END
$function$;

DROP FUNCTION mrf.drop_stale_entries();

DROP FUNCTION mrf_private.add_entry_partition(run_id bigint);

DROP FUNCTION mrf.plan_entry_table(run_id bigint);

DROP FUNCTION mrf.run_lock_held(run_id bigint);

COMMENT ON FUNCTION mrf.discard_previous_entries(entity_name text) IS $comment$In a loading transaction, before mrf.finish_ingest: delete the plan entries of the run now live for this payer, locking its row until the commit (skipped, returning NULL, when another ingest holds it). Returns that run.$comment$;

COMMENT ON FUNCTION mrf.fail_ingest(run_id bigint, error text, bytes_read bigint, raw_bytes bigint) IS $comment$Mark a run failed with its error; call it after the loading transaction rolled back (the previous index stays live).$comment$;

COMMENT ON FUNCTION mrf.finish_ingest(run_id bigint, entity_name text, entity_type text, version text, last_updated_on text, parser text, bytes_read bigint, raw_bytes bigint, structures bigint, plan_links bigint, file_links bigint, distinct_plans bigint, product_set_ids integer[], products text[], product_entries bigint[], product_examples text[]) IS $comment$Publish a loaded run atomically (call it last in the loading transaction): count its distinct plans, derive the plan-type evidence, swap the payer to this run, delete its previous run's rows (the plan entries unless mrf.discard_previous_entries deleted them already). CP400 when the entries discarded were another payer's.$comment$;

COMMENT ON FUNCTION mrf.run_lock_key(run_id bigint, OUT class integer, OUT key integer) IS $comment$The two-int4 advisory lock key of an ingest run (class 1836213760 = 'mrf\0', key = run id mod 2^31): the one definition mrf.hold_run_lock and mrf.runs share.$comment$;

COMMENT ON FUNCTION mrf.start_ingest(source text, size_bytes bigint) IS $comment$Record a new ingest run (status running), take its lock for this session (mrf.hold_run_lock) and return its id; call it on a session of its own that lives as long as the run, outside the loading transaction.$comment$;

RESET ROLE;

-- make migration: the part above is generated; the part below is written by hand.

-- purpose: undo 0190: mrf_private.plan_entry one table again (BRIN on run_id), every partition's rows in it.

SET LOCAL ROLE carepg_owner;

CREATE TABLE mrf_private.plan_entry_unpartitioned (
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
INSERT INTO mrf_private.plan_entry_unpartitioned SELECT * FROM mrf_private.plan_entry ORDER BY run_id;
CREATE OR REPLACE VIEW mrf_private.plan AS
SELECT DISTINCT ON (e.run_id, e.plan_key)
       e.run_id, e.plan_key, e.plan_name, e.plan_id_type, e.plan_id, e.plan_market_type, e.issuer_name,
       e.plan_sponsor_name
FROM mrf_private.plan_entry_unpartitioned e
ORDER BY e.run_id, e.plan_key;
CREATE OR REPLACE VIEW mrf_private.plan_file_set AS
SELECT DISTINCT e.run_id, e.plan_key, e.set_id
FROM mrf_private.plan_entry_unpartitioned e;
DROP TABLE mrf_private.plan_entry;  -- and its partitions
ALTER TABLE mrf_private.plan_entry_unpartitioned RENAME TO plan_entry;
CREATE INDEX plan_entry_run_brin ON mrf_private.plan_entry USING brin (run_id) WITH (autosummarize = on);
COMMENT ON TABLE mrf_private.plan_entry IS
    'carepg: the reporting_plans entries of a run, one row each, as the index lists them (enums lower-cased; v2 fields issuer_name, plan_sponsor_name may be NULL), with the file set of their structure.';
COMMENT ON COLUMN mrf_private.plan_entry.plan_key IS
    'Identifies the plan within its run: a 64-bit hash the ingest computes over the six fields (one bigint to group on instead of six texts).';

RESET ROLE;
