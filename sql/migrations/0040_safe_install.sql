-- purpose: safe to install on a live database. A dedicated owner role, private schemas, and privileges that
-- are closed by default and granted function by function.
--
-- * carepg_owner (NOLOGIN) owns every carepg schema and object; the migrating role becomes a member. SECURITY
--   DEFINER functions run as it, and it may only read the five challenge tables it needs, so a definer function
--   never runs with the rights of the superuser or application owner that migrated.
-- * The eligibility triggers' functions become SECURITY DEFINER: an application role with only DML rights on its
--   own tables keeps writing them (before, the triggers ran as the writer and failed on schema shifts).
-- * Private objects move to shifts_private and mrf_private, keeping their data (patches and runs stay valid);
--   nobody else has USAGE there. The leading underscores of the private functions go: the schema says it.
-- * EXECUTE is revoked from PUBLIC on every carepg function, and functions carepg_owner creates later start
--   closed (default privileges). carepg_api may execute the two read functions it had; carepg_reader (new) may
--   execute the read API of both schemas and read the view mrf.file_class.
-- * SQL hints speak SQL, not the CLI's flags.
--
-- Every object is as its file under sql/ (the current definitions) says at this revision.

-- --- roles (sql/roles.sql) ------------------------------------------------------------------------------------
DO $roles$
DECLARE
    wanted CONSTANT text[][] := ARRAY[
        ['carepg_owner', 'NOLOGIN NOINHERIT'],
        ['carepg_api', 'LOGIN NOINHERIT'],
        ['carepg_reader', 'NOLOGIN NOINHERIT']];
    i integer;
BEGIN
    FOR i IN 1 .. array_length(wanted, 1) LOOP
        CONTINUE WHEN EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = wanted[i][1]);
        BEGIN
            EXECUTE format('CREATE ROLE %I %s NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS',
                           wanted[i][1], wanted[i][2]);
        EXCEPTION
            -- Another database of this server created it a moment ago.
            WHEN duplicate_object OR unique_violation THEN NULL;
            WHEN insufficient_privilege THEN
                RAISE EXCEPTION 'role % does not exist and % may not create roles', wanted[i][1], current_user
                    USING ERRCODE = 'insufficient_privilege',
                          HINT = format('migrate as a role with CREATEROLE, or have an administrator run: CREATE ROLE %I %s',
                                        wanted[i][1], wanted[i][2]);
        END;
    END LOOP;
    IF NOT pg_catalog.pg_has_role(current_user, 'carepg_owner', 'USAGE') THEN
        BEGIN
            EXECUTE format('GRANT carepg_owner TO %I', current_user);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE EXCEPTION '% is not a member of carepg_owner and may not make itself one', current_user
                USING ERRCODE = 'insufficient_privilege',
                      HINT = format('have an administrator run: GRANT carepg_owner TO %I', current_user);
        END;
    END IF;
END
$roles$;

-- Shared objects: a role that may not comment on them (no ADMIN OPTION) keeps whatever comment it has.
DO $comments$
BEGIN
    COMMENT ON ROLE carepg_owner IS
        'carepg: owns carepg''s schemas and everything in them; SECURITY DEFINER functions run as it. Reads the challenge tables it needs, nothing else.';
    COMMENT ON ROLE carepg_api IS
        'carepg: the HTTP API''s role (`carepg serve` connects as it). It may only EXECUTE the API functions granted to it; it has no table access.';
    COMMENT ON ROLE carepg_reader IS
        'carepg: grant it to a role that should read carepg''s answers from SQL (the read functions of shifts and mrf, the view mrf.file_class); no table access.';
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'role comments left as they are: % may not comment on carepg''s roles', current_user;
END
$comments$;

ALTER DEFAULT PRIVILEGES FOR ROLE carepg_owner REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

-- --- what carepg_owner may read of the application's tables (sql/public/grants.sql) ---------------------------
GRANT SELECT ON public."Worker", public."Facility", public."FacilityRequirement", public."DocumentWorker",
    public."Shift" TO carepg_owner;

-- --- schemas ---------------------------------------------------------------------------------------------------
ALTER SCHEMA shifts OWNER TO carepg_owner;
ALTER SCHEMA mrf OWNER TO carepg_owner;
CREATE SCHEMA shifts_private AUTHORIZATION carepg_owner;
COMMENT ON SCHEMA shifts_private IS
    'carepg: private objects of open shifts (eligibility view, patches, maintenance); call the functions in schema shifts instead.';
COMMENT ON SCHEMA shifts IS
    'carepg: open shifts. API: available_shifts(), count_available_shifts(), refresh_eligibility(), schedule_refresh(), unschedule_refresh(), eligible_facility_ids(), docs_ok().';
GRANT USAGE ON SCHEMA shifts TO carepg_api, carepg_reader;
CREATE SCHEMA mrf_private AUTHORIZATION carepg_owner;
COMMENT ON SCHEMA mrf_private IS
    'carepg: private objects of the price-transparency index (runs, files, file sets, plans, lookup entries); read them through schema mrf.';
COMMENT ON SCHEMA mrf IS
    'carepg: price-transparency index. API: network_files(), the file_class view; ingest bookkeeping functions for carepg_owner''s members.';
GRANT USAGE ON SCHEMA mrf TO carepg_reader;

-- --- private objects move, with their data ----------------------------------------------------------------------
ALTER MATERIALIZED VIEW shifts.eligible_pair SET SCHEMA shifts_private;
ALTER TABLE shifts.eligibility_patch SET SCHEMA shifts_private;
ALTER TABLE shifts.eligibility_state SET SCHEMA shifts_private;
ALTER FUNCTION shifts._begin_eligibility_write() SET SCHEMA shifts_private;
ALTER FUNCTION shifts_private._begin_eligibility_write() RENAME TO begin_eligibility_write;
ALTER FUNCTION shifts._patch(integer[], integer[]) SET SCHEMA shifts_private;
ALTER FUNCTION shifts_private._patch(integer[], integer[]) RENAME TO patch_pairs;
ALTER FUNCTION shifts._patch_changed(integer[], integer[]) SET SCHEMA shifts_private;
ALTER FUNCTION shifts_private._patch_changed(integer[], integer[]) RENAME TO patch_changed_pairs;
ALTER FUNCTION shifts._on_document_worker_change() SET SCHEMA shifts_private;
ALTER FUNCTION shifts_private._on_document_worker_change() RENAME TO on_document_worker_change;
ALTER FUNCTION shifts._on_facility_requirement_change() SET SCHEMA shifts_private;
ALTER FUNCTION shifts_private._on_facility_requirement_change() RENAME TO on_facility_requirement_change;
ALTER FUNCTION shifts._on_worker_change() SET SCHEMA shifts_private;
ALTER FUNCTION shifts_private._on_worker_change() RENAME TO on_worker_change;
ALTER FUNCTION shifts._on_facility_change() SET SCHEMA shifts_private;
ALTER FUNCTION shifts_private._on_facility_change() RENAME TO on_facility_change;
ALTER FUNCTION shifts._on_truncate() SET SCHEMA shifts_private;
ALTER FUNCTION shifts_private._on_truncate() RENAME TO on_truncate;
ALTER TABLE mrf.ingest_run SET SCHEMA mrf_private;
ALTER TABLE mrf.reporting_entity SET SCHEMA mrf_private;
ALTER TABLE mrf.file SET SCHEMA mrf_private;
ALTER TABLE mrf.file_set SET SCHEMA mrf_private;
ALTER TABLE mrf.plan SET SCHEMA mrf_private;
ALTER TABLE mrf.plan_file_set SET SCHEMA mrf_private;
ALTER TABLE mrf.file_plan_type SET SCHEMA mrf_private;
ALTER TABLE mrf.lookup_entry SET SCHEMA mrf_private;

-- --- owners: everything in carepg's schemas belongs to carepg_owner (indexes and identity sequences follow
-- their table) -------------------------------------------------------------------------------------------------
DO $owners$
DECLARE
    object record;
BEGIN
    FOR object IN
        SELECT format('ALTER %s %s OWNER TO carepg_owner',
                      CASE c.relkind WHEN 'r' THEN 'TABLE' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'v' THEN 'VIEW' END,
                      c.oid::regclass) AS statement
        FROM pg_catalog.pg_class AS c
        WHERE c.relnamespace::regnamespace::text IN ('shifts', 'shifts_private', 'mrf', 'mrf_private')
          AND c.relkind IN ('r', 'm', 'v')
        UNION ALL
        SELECT format('ALTER FUNCTION %s OWNER TO carepg_owner', p.oid::regprocedure)
        FROM pg_catalog.pg_proc AS p
        WHERE p.pronamespace::regnamespace::text IN ('shifts', 'shifts_private', 'mrf', 'mrf_private')
    LOOP
        EXECUTE object.statement;
    END LOOP;
END
$owners$;

REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA shifts, shifts_private, mrf, mrf_private FROM PUBLIC;

-- --- definitions that change (as in sql/shifts*/ and sql/mrf*/) -------------------------------------------------
SET LOCAL ROLE carepg_owner;

COMMENT ON TABLE shifts_private.eligibility_patch IS
    'carepg: live document eligibility of pairs changed since the last refresh of shifts_private.eligible_pair; overrides the view.';
COMMENT ON COLUMN shifts_private.eligibility_patch.docs_ok IS
    'true when the worker holds every document the facility requires (active flags are read live, not here).';
COMMENT ON COLUMN shifts_private.eligibility_patch.patched_by IS
    'transaction that wrote this value; a refresh deletes the patches its snapshot had seen.';
COMMENT ON TABLE shifts_private.eligibility_state IS
    'carepg: one row. Eligibility writers update it to serialise; stale_by marks a bulk change that bypassed maintenance.';
COMMENT ON COLUMN shifts_private.eligibility_state.writes IS 'number of eligibility-changing statements maintained so far.';
COMMENT ON COLUMN shifts_private.eligibility_state.stale_by IS
    'transaction of a bulk change the triggers skipped; readers compute eligibility live until a refresh sees it.';

-- Called first by every maintenance trigger. Returns false when maintenance is deferred (bulk load).
CREATE OR REPLACE FUNCTION shifts_private.begin_eligibility_write()
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF current_setting('carepg.eligibility_maintenance', true) = 'deferred' THEN
        UPDATE shifts_private.eligibility_state SET stale_by = pg_current_xact_id(), writes = writes + 1;
        RETURN false;
    END IF;
    -- The serialisation point (see eligibility_state.sql). Later statements of the trigger take fresh snapshots.
    UPDATE shifts_private.eligibility_state SET writes = writes + 1;
    RETURN true;
END
$function$;
COMMENT ON FUNCTION shifts_private.begin_eligibility_write() IS
    'carepg internal: serialise eligibility writers on shifts_private.eligibility_state; false (and mark stale) when maintenance is deferred.';

-- Upsert the live truth for the given pairs, whatever the view says (activations: see patch_changed_pairs).
CREATE OR REPLACE FUNCTION shifts_private.patch_pairs(worker_ids integer[], facility_ids integer[])
RETURNS void
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    INSERT INTO shifts_private.eligibility_patch AS p (worker_id, facility_id, docs_ok, patched_by)
    SELECT DISTINCT pair.w, pair.f, shifts.docs_ok(pair.w, pair.f), pg_current_xact_id()
    FROM unnest(worker_ids, facility_ids) AS pair (w, f)
    ON CONFLICT (worker_id, facility_id)
    DO UPDATE SET docs_ok = excluded.docs_ok, patched_by = excluded.patched_by;
END;
COMMENT ON FUNCTION shifts_private.patch_pairs(integer[], integer[]) IS
    'carepg internal: write the live document eligibility of the pairs (worker_ids[i], facility_ids[i]).';

-- Document and requirement changes write only the pairs whose answer changes, checking documents once per worker.
--
-- A worker gaining or losing a core document touches every facility that requires it (~700 at the large
-- profile), but only the few pairs whose eligibility flips matter. This reads each worker's held documents once
-- as an array, checks each facility's requirements against it, and writes a pair only when
--   * it already has a patch (the patch must keep telling the truth), or
--   * its new value differs from the view's (what readers take when there is no patch), or
--   * eligibility is stale after a bulk load (the view is no baseline then).
-- Why skipping the rest is safe, even against a concurrent refresh whose snapshot predates this change: such a
-- refresh recomputes the pair from its snapshot, i.e. with the documents/requirements from before this change
-- and the active flags of then. The documents side equals the view's value, which equals the new value (else we
-- write). The active flags can differ only if a worker or facility was activated after that snapshot, and an
-- activation always writes patches for all its pairs (patch_pairs, which never skips), and a patch makes us
-- write. A deactivation needs nothing: readers check the active flags live.
CREATE OR REPLACE FUNCTION shifts_private.patch_changed_pairs(worker_ids integer[], facility_ids integer[])
RETURNS void
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    INSERT INTO shifts_private.eligibility_patch AS p (worker_id, facility_id, docs_ok, patched_by)
    SELECT c.w, c.f, c.ok, pg_current_xact_id()
    FROM (
        SELECT pair.w, pair.f,
               NOT EXISTS (SELECT FROM public."FacilityRequirement" AS r
                           WHERE r.facility_id = pair.f AND r.document_id <> ALL (h.docs)) AS ok
        FROM (SELECT DISTINCT u.w, u.f FROM unnest(worker_ids, facility_ids) AS u (w, f)) AS pair
        JOIN (SELECT hw.w, coalesce((SELECT array_agg(d.document_id) FROM public."DocumentWorker" AS d
                                     WHERE d.worker_id = hw.w), '{}') AS docs
              FROM (SELECT DISTINCT u.w FROM unnest(worker_ids) AS u (w)) AS hw) AS h ON h.w = pair.w
    ) AS c
    WHERE (SELECT s.stale_by IS NOT NULL FROM shifts_private.eligibility_state AS s)
       OR EXISTS (SELECT FROM shifts_private.eligibility_patch AS q WHERE q.worker_id = c.w AND q.facility_id = c.f)
       OR c.ok IS DISTINCT FROM EXISTS (SELECT FROM shifts_private.eligible_pair AS e
                                        WHERE e.worker_id = c.w AND e.facility_id = c.f)
    ON CONFLICT (worker_id, facility_id)
    DO UPDATE SET docs_ok = excluded.docs_ok, patched_by = excluded.patched_by;
END;
COMMENT ON FUNCTION shifts_private.patch_changed_pairs(integer[], integer[]) IS
    'carepg internal: like patch_pairs(), but skips pairs whose new value the view already gives (document and requirement changes only; activations must use patch_pairs()).';

-- A worker gained or lost documents: only the facilities requiring those documents can change.
CREATE OR REPLACE FUNCTION shifts_private.on_document_worker_change()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    changed_w integer[] := '{}';
    changed_d integer[] := '{}';
    pair_w integer[];
    pair_f integer[];
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT changed_w || array_agg(n.worker_id), changed_d || array_agg(n.document_id)
        INTO changed_w, changed_d FROM new_rows AS n;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        SELECT changed_w || array_agg(o.worker_id), changed_d || array_agg(o.document_id)
        INTO changed_w, changed_d FROM old_rows AS o;
    END IF;
    IF cardinality(changed_w) = 0 OR NOT shifts_private.begin_eligibility_write() THEN
        RETURN NULL;
    END IF;
    SELECT array_agg(c.w), array_agg(c.f) INTO pair_w, pair_f
    FROM (SELECT DISTINCT ch.w, r.facility_id AS f
          FROM unnest(changed_w, changed_d) AS ch (w, d)
          JOIN public."FacilityRequirement" AS r ON r.document_id = ch.d) AS c;
    PERFORM shifts_private.patch_changed_pairs(pair_w, pair_f);
    RETURN NULL;
END
$function$;
COMMENT ON FUNCTION shifts_private.on_document_worker_change() IS
    'carepg internal: after DocumentWorker changes, re-check each changed worker at the facilities requiring the changed documents.';

-- A facility's requirements changed: every worker with a stake in that facility can change.
CREATE OR REPLACE FUNCTION shifts_private.on_facility_requirement_change()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    changed_f integer[] := '{}';
    pair_w integer[];
    pair_f integer[];
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT changed_f || array_agg(n.facility_id) INTO changed_f FROM new_rows AS n;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        SELECT changed_f || array_agg(o.facility_id) INTO changed_f FROM old_rows AS o;
    END IF;
    IF cardinality(changed_f) = 0 OR NOT shifts_private.begin_eligibility_write() THEN
        RETURN NULL;
    END IF;
    -- Active workers, plus any worker that already has a patch there (it must stay true).
    SELECT array_agg(c.w), array_agg(c.f) INTO pair_w, pair_f
    FROM (SELECT w.id AS w, f.f
          FROM (SELECT DISTINCT unnest(changed_f) AS f) AS f
          CROSS JOIN public."Worker" AS w
          WHERE w.is_active
          UNION
          SELECT p.worker_id, p.facility_id
          FROM shifts_private.eligibility_patch AS p
          WHERE p.facility_id = ANY (changed_f)) AS c;
    PERFORM shifts_private.patch_changed_pairs(pair_w, pair_f);
    RETURN NULL;
END
$function$;
COMMENT ON FUNCTION shifts_private.on_facility_requirement_change() IS
    'carepg internal: after FacilityRequirement changes, re-check the changed facilities for every active worker.';

-- A worker appeared or became active (or changed id): the view may not know it, or know it from before a
-- deactivation during which its facilities' requirements changed. Deactivation itself needs nothing: readers
-- check Worker.is_active live.
CREATE OR REPLACE FUNCTION shifts_private.on_worker_change()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    activated integer[];
    pair_w integer[];
    pair_f integer[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(n.id) INTO activated FROM new_rows AS n WHERE n.is_active;
    ELSE  -- UPDATE: newly active, or an active worker under a new id
        SELECT array_agg(n.id) INTO activated
        FROM new_rows AS n
        WHERE n.is_active
          AND NOT EXISTS (SELECT FROM old_rows AS o WHERE o.id = n.id AND o.is_active);
    END IF;
    IF activated IS NULL OR NOT shifts_private.begin_eligibility_write() THEN
        RETURN NULL;
    END IF;
    -- Every facility, eligible or not: a view row from before a deactivation may be out of date by now.
    SELECT array_agg(a.w), array_agg(f.id) INTO pair_w, pair_f
    FROM unnest(activated) AS a (w)
    CROSS JOIN public."Facility" AS f;
    PERFORM shifts_private.patch_pairs(pair_w, pair_f);
    RETURN NULL;
END
$function$;
COMMENT ON FUNCTION shifts_private.on_worker_change() IS
    'carepg internal: when a worker is inserted or activated, patch its eligibility at every facility.';

CREATE OR REPLACE FUNCTION shifts_private.on_facility_change()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    activated integer[];
    pair_w integer[];
    pair_f integer[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(n.id) INTO activated FROM new_rows AS n WHERE n.is_active;
    ELSE
        SELECT array_agg(n.id) INTO activated
        FROM new_rows AS n
        WHERE n.is_active
          AND NOT EXISTS (SELECT FROM old_rows AS o WHERE o.id = n.id AND o.is_active);
    END IF;
    IF activated IS NULL OR NOT shifts_private.begin_eligibility_write() THEN
        RETURN NULL;
    END IF;
    -- Every active worker, eligible or not (an inactive one is patched when it is activated).
    SELECT array_agg(w.id), array_agg(a.f) INTO pair_w, pair_f
    FROM unnest(activated) AS a (f)
    CROSS JOIN public."Worker" AS w
    WHERE w.is_active;
    PERFORM shifts_private.patch_pairs(pair_w, pair_f);
    RETURN NULL;
END
$function$;
COMMENT ON FUNCTION shifts_private.on_facility_change() IS
    'carepg internal: when a facility is inserted or activated, patch its eligibility for every active worker.';

-- TRUNCATE has no transition tables: fall back to live answers until the next refresh.
CREATE OR REPLACE FUNCTION shifts_private.on_truncate()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    UPDATE shifts_private.eligibility_state SET stale_by = pg_current_xact_id(), writes = writes + 1;
    RETURN NULL;
END
$function$;
COMMENT ON FUNCTION shifts_private.on_truncate() IS
    'carepg internal: after TRUNCATE of an eligibility table, answer from the live tables until the next refresh.';

CREATE OR REPLACE FUNCTION shifts.eligible_facility_ids(worker_id integer)
RETURNS integer[]
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    ids integer[];
BEGIN
    IF (SELECT s.stale_by IS NOT NULL FROM shifts_private.eligibility_state AS s) THEN
        -- A bulk change bypassed maintenance: compute from the live tables until the next refresh.
        SELECT array_agg(f.id) INTO ids
        FROM public."Facility" AS f
        WHERE f.is_active AND shifts.docs_ok(eligible_facility_ids.worker_id, f.id);
        RETURN coalesce(ids, '{}');
    END IF;
    SELECT array_agg(x.facility_id) INTO ids
    FROM (
        SELECT e.facility_id
        FROM shifts_private.eligible_pair AS e
        WHERE e.worker_id = eligible_facility_ids.worker_id
          AND NOT EXISTS (
              SELECT FROM shifts_private.eligibility_patch AS p
              WHERE p.worker_id = e.worker_id AND p.facility_id = e.facility_id)
        UNION ALL
        SELECT p.facility_id
        FROM shifts_private.eligibility_patch AS p
        WHERE p.worker_id = eligible_facility_ids.worker_id AND p.docs_ok
    ) AS x;
    RETURN coalesce(ids, '{}');
END
$function$;
COMMENT ON FUNCTION shifts.eligible_facility_ids(integer) IS
$comment$Facilities where the worker holds every required document, as of now: shifts_private.eligible_pair overridden by shifts_private.eligibility_patch (or the live tables after a bulk change).
May include facilities that are inactive now; callers check Facility.is_active and Worker.is_active live.$comment$;

CREATE OR REPLACE FUNCTION shifts.refresh_eligibility(concurrent boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    seen pg_snapshot;
    me xid8;
BEGIN
    -- Everything this snapshot sees, the recomputed view will see too (it takes a later snapshot).
    seen := pg_current_snapshot();
    me := pg_current_xact_id_if_assigned();
    IF concurrent THEN
        REFRESH MATERIALIZED VIEW CONCURRENTLY shifts_private.eligible_pair;  -- readers keep reading meanwhile
    ELSE
        REFRESH MATERIALIZED VIEW shifts_private.eligible_pair;
    END IF;
    -- State row before patch rows: the order writers lock them in, so the two never deadlock.
    UPDATE shifts_private.eligibility_state AS s SET stale_by = NULL
    WHERE s.stale_by IS NOT NULL AND (pg_visible_in_snapshot(s.stale_by, seen) OR s.stale_by = me);
    DELETE FROM shifts_private.eligibility_patch AS p
    WHERE pg_visible_in_snapshot(p.patched_by, seen) OR p.patched_by = me;
END
$function$;
COMMENT ON FUNCTION shifts.refresh_eligibility(boolean) IS
$comment$Recompute shifts_private.eligible_pair from the live tables and drop the patches it now includes.
Answers are exact with or without refreshes; refreshing keeps the patch table small. CONCURRENTLY (the default) never blocks readers; pass false for a faster refresh that locks readers out while it runs.$comment$;

CREATE OR REPLACE FUNCTION shifts.schedule_refresh(schedule text)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    job_database text := current_setting('cron.database_name', true);
BEGIN
    IF NOT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed on this server'
            USING ERRCODE = 'CP501',
                  HINT = format('install it (Debian: apt-get install postgresql-%s-cron), or call shifts.refresh_eligibility() '
                               'from a scheduler of your own', current_setting('server_version_num')::integer / 10000);
    END IF;
    IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') THEN
        IF current_setting('shared_preload_libraries') NOT LIKE '%pg_cron%' THEN
            RAISE EXCEPTION 'pg_cron is installed but not loaded by this server'
                USING ERRCODE = 'CP501',
                      HINT = 'set shared_preload_libraries = ''pg_cron'' and cron.database_name and restart the server, '
                             'or call shifts.refresh_eligibility() from a scheduler of your own';
        END IF;
        IF job_database IS DISTINCT FROM current_database() THEN
            RAISE EXCEPTION 'pg_cron runs its jobs in database %, not in %', coalesce(job_database, 'postgres'),
                current_database()
                USING ERRCODE = 'CP501', HINT = format('set cron.database_name = %L and restart', current_database());
        END IF;
        CREATE EXTENSION pg_cron;
    END IF;
    -- Scheduling under the same name replaces the previous job.
    RETURN cron.schedule('carepg-refresh-eligibility', schedule, 'SELECT shifts.refresh_eligibility()');
END
$function$;
COMMENT ON FUNCTION shifts.schedule_refresh(text) IS
$comment$Install (or replace) the pg_cron job 'carepg-refresh-eligibility' running shifts.refresh_eligibility() on a cron schedule, e.g. '*/5 * * * *'; returns the job id.
Errors: CP501 when pg_cron is not usable here (the message says why and how to fix it).$comment$;

CREATE OR REPLACE FUNCTION shifts.unschedule_refresh()
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') THEN
        RETURN false;
    END IF;
    IF NOT EXISTS (SELECT FROM cron.job WHERE jobname = 'carepg-refresh-eligibility') THEN
        RETURN false;
    END IF;
    RETURN cron.unschedule('carepg-refresh-eligibility');
END
$function$;
COMMENT ON FUNCTION shifts.unschedule_refresh() IS
    'Remove the pg_cron job installed by shifts.schedule_refresh(); false when there was none.';

GRANT EXECUTE ON FUNCTION shifts.available_shifts(integer, timestamp, timestamp, timestamp, integer, integer)
    TO carepg_api, carepg_reader;
GRANT EXECUTE ON FUNCTION shifts.count_available_shifts(integer, timestamp, timestamp) TO carepg_api, carepg_reader;
GRANT SELECT ON mrf.us_state, mrf.bcbs_plan_code TO carepg_reader;
GRANT EXECUTE ON FUNCTION mrf.plan_types_of_name(text), mrf.lookup_plan_type(text), mrf.state_of_name(text),
    mrf.issuer_of_description(text, text) TO carepg_reader;
GRANT SELECT ON mrf.file_class TO carepg_reader;

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

CREATE OR REPLACE FUNCTION mrf.start_ingest(source text, size_bytes bigint)
RETURNS bigint
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
    INSERT INTO mrf_private.ingest_run (source, size_bytes) VALUES (source, size_bytes) RETURNING run_id
$function$;
COMMENT ON FUNCTION mrf.start_ingest(text, bigint) IS 'Record a new ingest run (status running) and return its id; call it outside the loading transaction.';

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
END
$function$;
COMMENT ON FUNCTION mrf.fail_ingest(bigint, text, bigint, bigint) IS
    'Mark a run failed with its error; call it after the loading transaction rolled back (the previous index stays live).';

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
