-- purpose: one partition of mrf_private.plan_entry per ingest run, made when the run is recorded: the ingest COPYs
-- into a table that holds nothing else, and a replaced, failed or abandoned run goes as a table
-- (mrf.drop_stale_entries) instead of being deleted row by row. The rows already stored move to their runs'
-- partitions (one pass per run, under this migration's lock); runs recorded as running get an empty one.

SET LOCAL ROLE carepg_owner;

ALTER TABLE mrf_private.plan_entry RENAME TO plan_entry_unpartitioned;
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
) PARTITION BY LIST (run_id);
COMMENT ON TABLE mrf_private.plan_entry IS
    'carepg: the reporting_plans entries of a run, one row each, as the index lists them (enums lower-cased; v2 fields issuer_name, plan_sponsor_name may be NULL), with the file set of their structure. One partition per run, mrf_private.plan_entry_<run id>.';
COMMENT ON COLUMN mrf_private.plan_entry.plan_key IS
    'Identifies the plan within its run: a 64-bit hash the ingest computes over the six fields (one bigint to group on instead of six texts).';

DO $move$
DECLARE
    run bigint;
    part text;
BEGIN
    FOR run IN
        SELECT DISTINCT u.run_id FROM mrf_private.plan_entry_unpartitioned u
        UNION
        SELECT r.run_id FROM mrf_private.ingest_run r WHERE r.status = 'running'
        ORDER BY 1
    LOOP
        part := format('mrf_private.%I', 'plan_entry_' || run);
        EXECUTE format('CREATE TABLE %s (LIKE mrf_private.plan_entry, CHECK (run_id = %s))', part, run);
        EXECUTE format('COMMENT ON TABLE %s IS %L', part, format('carepg: the plan entries of ingest run %s.', run));
        EXECUTE format('INSERT INTO %s SELECT * FROM mrf_private.plan_entry_unpartitioned u WHERE u.run_id = %s',
                       part, run);
        EXECUTE format('ALTER TABLE mrf_private.plan_entry ATTACH PARTITION %s FOR VALUES IN (%s)', part, run);
    END LOOP;
END
$move$;

-- The views read the table they were made on: make them again on the new one before the old one goes.
CREATE OR REPLACE VIEW mrf_private.plan AS
SELECT DISTINCT ON (e.run_id, e.plan_key)
       e.run_id, e.plan_key, e.plan_name, e.plan_id_type, e.plan_id, e.plan_market_type, e.issuer_name,
       e.plan_sponsor_name
FROM mrf_private.plan_entry e
ORDER BY e.run_id, e.plan_key;
CREATE OR REPLACE VIEW mrf_private.plan_file_set AS
SELECT DISTINCT e.run_id, e.plan_key, e.set_id
FROM mrf_private.plan_entry e;
DROP TABLE mrf_private.plan_entry_unpartitioned;

RESET ROLE;

-- make migration: the part above is written by hand; the part below is generated from the current files.

SET LOCAL ROLE carepg_owner;

CREATE OR REPLACE FUNCTION mrf.run_lock_held(run_id bigint)
 RETURNS boolean
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT EXISTS (
        SELECT FROM pg_locks AS l, mrf.run_lock_key(run_lock_held.run_id) AS k
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
          AND l.database = (SELECT d.oid FROM pg_database AS d WHERE d.datname = current_database())
          AND l.classid = k.class::oid AND l.objid = k.key::oid)
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
           CASE WHEN r.status = 'running' AND NOT mrf.run_lock_held(r.run_id) THEN 'abandoned' ELSE r.status END,
           r.entity_name, r.parser, r.started_at, r.finished_at, r.size_bytes, r.bytes_read, r.raw_bytes,
           r.structures, r.plans, r.distinct_files, r.error
    FROM mrf_private.ingest_run AS r
    ORDER BY r.run_id DESC
    LIMIT max_rows;
END
$function$;

CREATE OR REPLACE FUNCTION mrf.plan_entry_table(run_id bigint)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT format('mrf_private.%I', 'plan_entry_' || plan_entry_table.run_id)
$function$;

CREATE OR REPLACE FUNCTION mrf_private.add_entry_partition(run_id bigint)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
-- Made apart, then attached: CREATE TABLE ... PARTITION OF would lock the parent against its readers until the
-- commit, while ATTACH PARTITION takes a lock that readers do not conflict with, and the CHECK spares it a scan.
DECLARE
    part constant text := mrf.plan_entry_table(add_entry_partition.run_id);
BEGIN
    EXECUTE format('CREATE TABLE %s (LIKE mrf_private.plan_entry, CHECK (run_id = %s))', part,
                   add_entry_partition.run_id);
    EXECUTE format('COMMENT ON TABLE %s IS %L', part,
                   format('carepg: the plan entries of ingest run %s.', add_entry_partition.run_id));
    EXECUTE format('ALTER TABLE mrf_private.plan_entry ATTACH PARTITION %s FOR VALUES IN (%s)', part,
                   add_entry_partition.run_id);
END
$function$;

CREATE OR REPLACE FUNCTION mrf.drop_stale_entries()
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET lock_timeout TO '100ms'
AS $function$
-- A run's partition goes once the run can no longer be live: replaced (succeeded, but no payer's current run),
-- failed, or abandoned. Dropping a partition locks the parent table until the commit, so it first waits for the
-- parent's readers (and queues new ones behind it): for at most lock_timeout, then the partition is left for
-- the next call. Every publish and every recorded failure calls this.
DECLARE
    stale record;
    dropped integer := 0;
BEGIN
    FOR stale IN
        SELECT p.part  -- a name: a regclass of a dropped table prints as a number
        FROM mrf_private.ingest_run r
        CROSS JOIN LATERAL (SELECT mrf.plan_entry_table(r.run_id)) AS p(part)
        WHERE to_regclass(p.part) IS NOT NULL
          AND NOT EXISTS (SELECT FROM mrf_private.reporting_entity e WHERE e.current_run_id = r.run_id)
          AND (r.status <> 'running' OR NOT mrf.run_lock_held(r.run_id))
        ORDER BY r.run_id
    LOOP
        BEGIN
            EXECUTE format('DROP TABLE %s', stale.part);
            dropped := dropped + 1;
        EXCEPTION
            WHEN lock_not_available THEN
                NULL;  -- being read (or still held by a rolled-back load's session): a later call drops it
            WHEN undefined_table THEN
                NULL;  -- dropped by another publish since this one listed it
        END;
    END LOOP;
    RETURN dropped;
END
$function$;

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
    PERFORM mrf_private.add_entry_partition(new_run);
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
    PERFORM mrf.drop_stale_entries();
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
    IF n_plans IS NULL THEN  -- the ingest's 64-bit plan keys, sorted (half the time of hashing them here)
        SELECT count(DISTINCT e.plan_key) INTO n_plans FROM mrf_private.plan_entry e WHERE e.run_id = finish_ingest.run_id;
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

    -- The replaced run's plan entries are its partition: dropped as a table, last, since it locks the parent.
    PERFORM mrf.drop_stale_entries();
    RETURN QUERY SELECT n_plans, n_files, n_sets, old_run;
END
$function$;

CREATE OR REPLACE FUNCTION mrf.discard_previous_entries(entity_name text)
 RETURNS bigint
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
-- Deletes the replaced run's plan entries at the start of the loading transaction (what clients that call it
-- expect; publishing drops the partition anyway). Nothing is visible until the commit and a rollback restores
-- them. The payer's row stays locked until then, so a concurrent ingest of the same payer that calls this finds
-- it locked, skips this, and publishes after.
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

COMMENT ON FUNCTION mrf.discard_previous_entries(entity_name text) IS $comment$Deprecated: publishing drops the replaced run's plan-entry partition whole, so deleting its rows first only adds work; kept for clients that still call it. In a loading transaction, before mrf.finish_ingest: delete the plan entries of the run now live for this payer, locking its row until the commit (skipped, returning NULL, when another ingest holds it). Returns that run.$comment$;

COMMENT ON FUNCTION mrf.drop_stale_entries() IS $comment$Drop the plan-entry partitions of runs that can no longer be live (replaced, failed, abandoned), each one whose lock comes within 100 ms; returns how many. mrf.finish_ingest and mrf.fail_ingest call it.$comment$;

COMMENT ON FUNCTION mrf.fail_ingest(run_id bigint, error text, bytes_read bigint, raw_bytes bigint) IS $comment$Mark a run failed with its error and drop its plan-entry partition (mrf.drop_stale_entries); call it after the loading transaction rolled back (the previous index stays live).$comment$;

COMMENT ON FUNCTION mrf.finish_ingest(run_id bigint, entity_name text, entity_type text, version text, last_updated_on text, parser text, bytes_read bigint, raw_bytes bigint, structures bigint, plan_links bigint, file_links bigint, distinct_plans bigint, product_set_ids integer[], products text[], product_entries bigint[], product_examples text[]) IS $comment$Publish a loaded run atomically (call it last in the loading transaction): count its distinct plans, derive the plan-type evidence, swap the payer to this run, delete its previous run's rows and drop the plan-entry partitions of runs no longer live (mrf.drop_stale_entries). CP400 when mrf.discard_previous_entries discarded another payer's entries.$comment$;

COMMENT ON FUNCTION mrf.plan_entry_table(run_id bigint) IS $comment$The partition of mrf_private.plan_entry that holds a run's plan entries, as a qualified name: the ingest COPYs into it (mrf.start_ingest makes it).$comment$;

COMMENT ON FUNCTION mrf.run_lock_held(run_id bigint) IS $comment$Does some session hold this ingest run's lock (its process is alive)? A 'running' run without it is abandoned.$comment$;

COMMENT ON FUNCTION mrf.run_lock_key(run_id bigint, OUT class integer, OUT key integer) IS $comment$The two-int4 advisory lock key of an ingest run (class 1836213760 = 'mrf\0', key = run id mod 2^31): the one definition mrf.hold_run_lock and mrf.run_lock_held share.$comment$;

COMMENT ON FUNCTION mrf.start_ingest(source text, size_bytes bigint) IS $comment$Record a new ingest run (status running), take its lock for this session (mrf.hold_run_lock), make the partition its plan entries go to (mrf.plan_entry_table) and return its id; call it on a session of its own that lives as long as the run, outside the loading transaction.$comment$;

COMMENT ON FUNCTION mrf_private.add_entry_partition(run_id bigint) IS $comment$Create and attach the (empty) partition of mrf_private.plan_entry for a new run: mrf.plan_entry_table(run_id).$comment$;

RESET ROLE;
