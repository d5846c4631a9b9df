-- purpose: the ingest's bookkeeping, called by `carepg mrf ingest` / `lookup` (carepg_owner's members only).
-- A run is recorded on its own autocommit connection (start_ingest, fail_ingest), which holds the run's lock
-- while the run lives (mrf/runs.sql) and makes the run's partition of mrf_private.plan_entry; the data is COPYed
-- into mrf_private as the index streams and published by finish_ingest, the last statement of the loading
-- transaction.

SET LOCAL ROLE carepg_owner;

CREATE OR REPLACE FUNCTION mrf.plan_entry_table(run_id bigint)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT format('mrf_private.%I', 'plan_entry_' || plan_entry_table.run_id)
$function$;
COMMENT ON FUNCTION mrf.plan_entry_table(bigint) IS
    'The partition of mrf_private.plan_entry that holds a run''s plan entries, as a qualified name: the ingest COPYs into it (mrf.start_ingest makes it).';

CREATE OR REPLACE FUNCTION mrf_private.add_entry_partition(run_id bigint)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER  -- the partition is carepg_owner's, whoever records the run
SET search_path = pg_catalog, pg_temp
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
COMMENT ON FUNCTION mrf_private.add_entry_partition(bigint) IS
    'Create and attach the (empty) partition of mrf_private.plan_entry for a new run: mrf.plan_entry_table(run_id).';

CREATE OR REPLACE FUNCTION mrf.drop_stale_entries()
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '100ms'
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
COMMENT ON FUNCTION mrf.drop_stale_entries() IS
    'Drop the plan-entry partitions of runs that can no longer be live (replaced, failed, abandoned), each one whose lock comes within 100 ms; returns how many. mrf.finish_ingest and mrf.fail_ingest call it.';

CREATE OR REPLACE FUNCTION mrf.start_ingest(source text, size_bytes bigint)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
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
COMMENT ON FUNCTION mrf.start_ingest(text, bigint) IS
    'Record a new ingest run (status running), take its lock for this session (mrf.hold_run_lock), make the partition its plan entries go to (mrf.plan_entry_table) and return its id; call it on a session of its own that lives as long as the run, outside the loading transaction.';

CREATE OR REPLACE FUNCTION mrf.fail_ingest(run_id bigint, error text, bytes_read bigint, raw_bytes bigint)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
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
COMMENT ON FUNCTION mrf.fail_ingest(bigint, text, bigint, bigint) IS
    'Mark a run failed with its error and drop its plan-entry partition (mrf.drop_stale_entries); call it after the loading transaction rolled back (the previous index stays live).';

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
COMMENT ON FUNCTION mrf.finish_ingest(bigint, text, text, text, text, text, bigint, bigint, bigint, bigint, bigint, bigint,
                                      integer[], text[], bigint[], text[]) IS
    'Publish a loaded run atomically (call it last in the loading transaction): count its distinct plans, derive the plan-type evidence, swap the payer to this run, delete its previous run''s rows and drop the plan-entry partitions of runs no longer live (mrf.drop_stale_entries). CP400 when mrf.discard_previous_entries discarded another payer''s entries.';

CREATE OR REPLACE FUNCTION mrf.discard_previous_entries(entity_name text)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
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
COMMENT ON FUNCTION mrf.discard_previous_entries(text) IS
    'Deprecated: publishing drops the replaced run''s plan-entry partition whole, so deleting its rows first only adds work; kept for clients that still call it. In a loading transaction, before mrf.finish_ingest: delete the plan entries of the run now live for this payer, locking its row until the commit (skipped, returning NULL, when another ingest holds it). Returns that run.';

CREATE OR REPLACE FUNCTION mrf.load_lookup(source text, entries jsonb)
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
    INSERT INTO mrf_private.lookup_entry AS l (file_key, display_name, category, url, source)
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

RESET ROLE;
