-- purpose: eligibility that is never stale, and the overlap rule.
--
-- The materialized view shifts.eligible_pair stays the fast precomputed answer, refreshed now and then.
-- Between refreshes, statement-level triggers on the four tables that decide eligibility write
-- *patches*: for every (worker, facility) pair a change may affect, the live truth of "the worker holds
-- every document the facility requires". A reader takes a patch where one exists and the view otherwise,
-- and reads the active flags live, so every call answers exactly what the committed tables say.
-- A refresh folds the patches it has seen into the view and deletes them.
--
-- Why it is right under concurrency (README "Freshness" has the short version):
--  * Every eligibility-changing statement first updates the one row of shifts.eligibility_state. That row
--    lock serialises writers: under READ COMMITTED the second writer waits, then recomputes with a fresh
--    snapshot that includes the first writer's commit; under REPEATABLE READ / SERIALIZABLE it gets a
--    serialization failure (40001) and the application retries, as it must for any such conflict.
--  * Patches carry the writing transaction's id. A refresh notes its snapshot before recomputing the view
--    and then deletes only the patches that snapshot already saw, so a patch written during the refresh
--    survives it.
--  * Bulk paths that bypass the triggers (TRUNCATE, or carepg.eligibility_maintenance = 'deferred' for a
--    seed) mark the state stale; until the next refresh, readers compute eligibility live for the worker.

-- The overlap rule's index: a worker's claimed, non-deleted shifts as time ranges, probed per candidate.
-- btree_gist lets one GiST index hold the worker id (equality) and the range (overlap). It gets a schema
-- of its own: neither the challenge's public schema nor our API schema fills with its ~200 functions.
CREATE SCHEMA IF NOT EXISTS carepg_ext;
COMMENT ON SCHEMA carepg_ext IS 'carepg: extensions carepg installed (btree_gist).';
CREATE EXTENSION IF NOT EXISTS btree_gist SCHEMA carepg_ext;

CREATE INDEX carepg_shift_claimed_range_idx
    ON public."Shift" USING gist (worker_id, tsrange(start, greatest(start, "end")))
    WHERE worker_id IS NOT NULL AND NOT is_deleted;
COMMENT ON INDEX public.carepg_shift_claimed_range_idx IS
    'carepg: each worker''s claimed, non-deleted shifts as [start, end) ranges; finds overlaps in O(log n).';

-- "Which facilities require this document?" when a worker gains or loses one.
CREATE INDEX carepg_facility_requirement_document_idx
    ON public."FacilityRequirement" (document_id, facility_id);
COMMENT ON INDEX public.carepg_facility_requirement_document_idx IS
    'carepg: the facilities that require a document (eligibility maintenance).';


CREATE TABLE shifts.eligibility_patch (
    worker_id integer NOT NULL,
    facility_id integer NOT NULL,
    docs_ok boolean NOT NULL,
    patched_by xid8 NOT NULL DEFAULT pg_current_xact_id(),
    PRIMARY KEY (worker_id, facility_id)
);
COMMENT ON TABLE shifts.eligibility_patch IS
    'carepg: live document eligibility of pairs changed since the last refresh of shifts.eligible_pair; overrides the view.';
COMMENT ON COLUMN shifts.eligibility_patch.docs_ok IS
    'true when the worker holds every document the facility requires (active flags are read live, not here).';
COMMENT ON COLUMN shifts.eligibility_patch.patched_by IS
    'transaction that wrote this value; a refresh deletes the patches its snapshot had seen.';

CREATE TABLE shifts.eligibility_state (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    writes bigint NOT NULL DEFAULT 0,
    stale_by xid8
);
COMMENT ON TABLE shifts.eligibility_state IS
    'carepg: one row. Eligibility writers update it to serialise; stale_by marks a bulk change that bypassed maintenance.';
COMMENT ON COLUMN shifts.eligibility_state.writes IS 'number of eligibility-changing statements maintained so far.';
COMMENT ON COLUMN shifts.eligibility_state.stale_by IS
    'transaction of a bulk change the triggers skipped; readers compute eligibility live until a refresh sees it.';
INSERT INTO shifts.eligibility_state DEFAULT VALUES;


-- The one definition of "holds every required document", for a set of pairs.
CREATE FUNCTION shifts.docs_ok(worker_id integer, facility_id integer)
RETURNS boolean
LANGUAGE sql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN NOT EXISTS (
    SELECT FROM public."FacilityRequirement" AS r
    WHERE r.facility_id = docs_ok.facility_id
      AND NOT EXISTS (
          SELECT FROM public."DocumentWorker" AS d
          WHERE d.worker_id = docs_ok.worker_id AND d.document_id = r.document_id));
COMMENT ON FUNCTION shifts.docs_ok(integer, integer) IS
    'Does the worker hold every document the facility requires? Set logic: duplicates don''t matter, no requirements means yes.';


CREATE FUNCTION shifts.eligible_facility_ids(worker_id integer)
RETURNS integer[]
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    ids integer[];
BEGIN
    IF (SELECT s.stale_by IS NOT NULL FROM shifts.eligibility_state AS s) THEN
        -- A bulk change bypassed maintenance: compute from the live tables until the next refresh.
        SELECT array_agg(f.id) INTO ids
        FROM public."Facility" AS f
        WHERE f.is_active AND shifts.docs_ok(eligible_facility_ids.worker_id, f.id);
        RETURN coalesce(ids, '{}');
    END IF;
    SELECT array_agg(x.facility_id) INTO ids
    FROM (
        SELECT e.facility_id
        FROM shifts.eligible_pair AS e
        WHERE e.worker_id = eligible_facility_ids.worker_id
          AND NOT EXISTS (
              SELECT FROM shifts.eligibility_patch AS p
              WHERE p.worker_id = e.worker_id AND p.facility_id = e.facility_id)
        UNION ALL
        SELECT p.facility_id
        FROM shifts.eligibility_patch AS p
        WHERE p.worker_id = eligible_facility_ids.worker_id AND p.docs_ok
    ) AS x;
    RETURN coalesce(ids, '{}');
END
$function$;
COMMENT ON FUNCTION shifts.eligible_facility_ids(integer) IS
$comment$Facilities where the worker holds every required document, as of now: shifts.eligible_pair overridden by shifts.eligibility_patch (or the live tables after a bulk change).
May include facilities that are inactive now; callers check Facility.is_active and Worker.is_active live.$comment$;


-- --- maintenance ---------------------------------------------------------------------------------------

-- Called first by every maintenance trigger. Returns false when maintenance is deferred (bulk load).
CREATE FUNCTION shifts._begin_eligibility_write()
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF current_setting('carepg.eligibility_maintenance', true) = 'deferred' THEN
        UPDATE shifts.eligibility_state SET stale_by = pg_current_xact_id(), writes = writes + 1;
        RETURN false;
    END IF;
    -- The serialisation point (see the header). Later statements of the trigger take fresh snapshots.
    UPDATE shifts.eligibility_state SET writes = writes + 1;
    RETURN true;
END
$function$;
COMMENT ON FUNCTION shifts._begin_eligibility_write() IS
    'carepg internal: serialise eligibility writers on shifts.eligibility_state; false (and mark stale) when maintenance is deferred.';

-- Upsert the live truth for the given pairs.
CREATE FUNCTION shifts._patch(worker_ids integer[], facility_ids integer[])
RETURNS void
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    INSERT INTO shifts.eligibility_patch AS p (worker_id, facility_id, docs_ok, patched_by)
    SELECT DISTINCT pair.w, pair.f, shifts.docs_ok(pair.w, pair.f), pg_current_xact_id()
    FROM unnest(worker_ids, facility_ids) AS pair (w, f)
    ON CONFLICT (worker_id, facility_id)
    DO UPDATE SET docs_ok = excluded.docs_ok, patched_by = excluded.patched_by;
END;
COMMENT ON FUNCTION shifts._patch(integer[], integer[]) IS
    'carepg internal: write the live document eligibility of the pairs (worker_ids[i], facility_ids[i]).';


-- A worker gained or lost documents: only the facilities requiring those documents can change.
CREATE FUNCTION shifts._on_document_worker_change()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
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
    IF cardinality(changed_w) = 0 OR NOT shifts._begin_eligibility_write() THEN
        RETURN NULL;
    END IF;
    SELECT array_agg(c.w), array_agg(c.f) INTO pair_w, pair_f
    FROM (SELECT DISTINCT ch.w, r.facility_id AS f
          FROM unnest(changed_w, changed_d) AS ch (w, d)
          JOIN public."FacilityRequirement" AS r ON r.document_id = ch.d) AS c;
    PERFORM shifts._patch(pair_w, pair_f);
    RETURN NULL;
END
$function$;
COMMENT ON FUNCTION shifts._on_document_worker_change() IS
    'carepg internal: after DocumentWorker changes, re-check each changed worker at the facilities requiring the changed documents.';

-- A facility's requirements changed: every worker with a stake in that facility can change.
CREATE FUNCTION shifts._on_facility_requirement_change()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
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
    IF cardinality(changed_f) = 0 OR NOT shifts._begin_eligibility_write() THEN
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
          FROM shifts.eligibility_patch AS p
          WHERE p.facility_id = ANY (changed_f)) AS c;
    PERFORM shifts._patch(pair_w, pair_f);
    RETURN NULL;
END
$function$;
COMMENT ON FUNCTION shifts._on_facility_requirement_change() IS
    'carepg internal: after FacilityRequirement changes, re-check the changed facilities for every active worker.';

-- A worker appeared or became active (or changed id): the view may not know it, or know it from before a
-- deactivation during which its facilities' requirements changed. Deactivation itself needs nothing:
-- readers check Worker.is_active live.
CREATE FUNCTION shifts._on_worker_change()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
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
    IF activated IS NULL OR NOT shifts._begin_eligibility_write() THEN
        RETURN NULL;
    END IF;
    -- Every facility, eligible or not: a view row from before a deactivation may be out of date by now.
    SELECT array_agg(a.w), array_agg(f.id) INTO pair_w, pair_f
    FROM unnest(activated) AS a (w)
    CROSS JOIN public."Facility" AS f;
    PERFORM shifts._patch(pair_w, pair_f);
    RETURN NULL;
END
$function$;
COMMENT ON FUNCTION shifts._on_worker_change() IS
    'carepg internal: when a worker is inserted or activated, patch its eligibility at every facility.';

CREATE FUNCTION shifts._on_facility_change()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
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
    IF activated IS NULL OR NOT shifts._begin_eligibility_write() THEN
        RETURN NULL;
    END IF;
    -- Every active worker, eligible or not (an inactive one is patched when it is activated).
    SELECT array_agg(w.id), array_agg(a.f) INTO pair_w, pair_f
    FROM unnest(activated) AS a (f)
    CROSS JOIN public."Worker" AS w
    WHERE w.is_active;
    PERFORM shifts._patch(pair_w, pair_f);
    RETURN NULL;
END
$function$;
COMMENT ON FUNCTION shifts._on_facility_change() IS
    'carepg internal: when a facility is inserted or activated, patch its eligibility for every active worker.';

-- TRUNCATE has no transition tables: fall back to live answers until the next refresh.
CREATE FUNCTION shifts._on_truncate()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    UPDATE shifts.eligibility_state SET stale_by = pg_current_xact_id(), writes = writes + 1;
    RETURN NULL;
END
$function$;
COMMENT ON FUNCTION shifts._on_truncate() IS
    'carepg internal: after TRUNCATE of an eligibility table, answer from the live tables until the next refresh.';

CREATE TRIGGER carepg_eligibility_insert AFTER INSERT ON public."DocumentWorker"
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION shifts._on_document_worker_change();
CREATE TRIGGER carepg_eligibility_update AFTER UPDATE ON public."DocumentWorker"
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION shifts._on_document_worker_change();
CREATE TRIGGER carepg_eligibility_delete AFTER DELETE ON public."DocumentWorker"
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION shifts._on_document_worker_change();
CREATE TRIGGER carepg_eligibility_truncate AFTER TRUNCATE ON public."DocumentWorker"
    FOR EACH STATEMENT EXECUTE FUNCTION shifts._on_truncate();

CREATE TRIGGER carepg_eligibility_insert AFTER INSERT ON public."FacilityRequirement"
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION shifts._on_facility_requirement_change();
CREATE TRIGGER carepg_eligibility_update AFTER UPDATE ON public."FacilityRequirement"
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION shifts._on_facility_requirement_change();
CREATE TRIGGER carepg_eligibility_delete AFTER DELETE ON public."FacilityRequirement"
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION shifts._on_facility_requirement_change();
CREATE TRIGGER carepg_eligibility_truncate AFTER TRUNCATE ON public."FacilityRequirement"
    FOR EACH STATEMENT EXECUTE FUNCTION shifts._on_truncate();

CREATE TRIGGER carepg_eligibility_insert AFTER INSERT ON public."Worker"
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION shifts._on_worker_change();
CREATE TRIGGER carepg_eligibility_update AFTER UPDATE ON public."Worker"
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION shifts._on_worker_change();
CREATE TRIGGER carepg_eligibility_truncate AFTER TRUNCATE ON public."Worker"
    FOR EACH STATEMENT EXECUTE FUNCTION shifts._on_truncate();

CREATE TRIGGER carepg_eligibility_insert AFTER INSERT ON public."Facility"
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION shifts._on_facility_change();
CREATE TRIGGER carepg_eligibility_update AFTER UPDATE ON public."Facility"
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION shifts._on_facility_change();
CREATE TRIGGER carepg_eligibility_truncate AFTER TRUNCATE ON public."Facility"
    FOR EACH STATEMENT EXECUTE FUNCTION shifts._on_truncate();

COMMENT ON TRIGGER carepg_eligibility_insert ON public."DocumentWorker" IS 'carepg: keep eligibility fresh.';
COMMENT ON TRIGGER carepg_eligibility_update ON public."DocumentWorker" IS 'carepg: keep eligibility fresh.';
COMMENT ON TRIGGER carepg_eligibility_delete ON public."DocumentWorker" IS 'carepg: keep eligibility fresh.';
COMMENT ON TRIGGER carepg_eligibility_truncate ON public."DocumentWorker" IS 'carepg: keep eligibility fresh.';
COMMENT ON TRIGGER carepg_eligibility_insert ON public."FacilityRequirement" IS 'carepg: keep eligibility fresh.';
COMMENT ON TRIGGER carepg_eligibility_update ON public."FacilityRequirement" IS 'carepg: keep eligibility fresh.';
COMMENT ON TRIGGER carepg_eligibility_delete ON public."FacilityRequirement" IS 'carepg: keep eligibility fresh.';
COMMENT ON TRIGGER carepg_eligibility_truncate ON public."FacilityRequirement" IS 'carepg: keep eligibility fresh.';
COMMENT ON TRIGGER carepg_eligibility_insert ON public."Worker" IS 'carepg: keep eligibility fresh.';
COMMENT ON TRIGGER carepg_eligibility_update ON public."Worker" IS 'carepg: keep eligibility fresh.';
COMMENT ON TRIGGER carepg_eligibility_truncate ON public."Worker" IS 'carepg: keep eligibility fresh.';
COMMENT ON TRIGGER carepg_eligibility_insert ON public."Facility" IS 'carepg: keep eligibility fresh.';
COMMENT ON TRIGGER carepg_eligibility_update ON public."Facility" IS 'carepg: keep eligibility fresh.';
COMMENT ON TRIGGER carepg_eligibility_truncate ON public."Facility" IS 'carepg: keep eligibility fresh.';


-- --- refresh ------------------------------------------------------------------------------------------

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
        REFRESH MATERIALIZED VIEW CONCURRENTLY shifts.eligible_pair;  -- readers keep reading meanwhile
    ELSE
        REFRESH MATERIALIZED VIEW shifts.eligible_pair;
    END IF;
    -- State row before patch rows: the order writers lock them in, so the two never deadlock.
    UPDATE shifts.eligibility_state AS s SET stale_by = NULL
    WHERE s.stale_by IS NOT NULL AND (pg_visible_in_snapshot(s.stale_by, seen) OR s.stale_by = me);
    DELETE FROM shifts.eligibility_patch AS p
    WHERE pg_visible_in_snapshot(p.patched_by, seen) OR p.patched_by = me;
END
$function$;
COMMENT ON FUNCTION shifts.refresh_eligibility(boolean) IS
$comment$Recompute shifts.eligible_pair from the live tables and drop the patches it now includes.
Answers are exact with or without refreshes; refreshing keeps the patch table small. CONCURRENTLY (the default) never blocks readers; pass false for a faster refresh that locks readers out while it runs.$comment$;


-- --- the answer, now exact ----------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION shifts.available_shifts(
    worker_id integer,
    start_from timestamp DEFAULT NULL,
    start_to timestamp DEFAULT NULL,
    after_start timestamp DEFAULT NULL,
    after_id integer DEFAULT NULL,
    max_rows integer DEFAULT 100
)
RETURNS TABLE (
    shift_id integer,
    facility_id integer,
    facility_name text,
    start timestamp,
    "end" timestamp,
    profession public."Profession"
)
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    worker record;
    facilities integer[];
    facility_count real;
    plan text;
    has_claims boolean;
    -- Unbounded ends become infinities so the same index conditions serve every call.
    lower_bound constant timestamp := coalesce(start_from, '-infinity');
    upper_bound constant timestamp := coalesce(start_to, 'infinity');
    cursor_start constant timestamp := coalesce(after_start, '-infinity');
    cursor_id constant integer := coalesce(after_id, -2147483648);
BEGIN
    IF max_rows IS NULL OR max_rows < 1 OR max_rows > 1000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 1000, got %', coalesce(max_rows::text, 'NULL')
            USING ERRCODE = 'CP400';
    END IF;
    IF start_from > start_to THEN
        RAISE EXCEPTION 'start_from (%) is after start_to (%)', start_from, start_to
            USING ERRCODE = 'CP400', HINT = 'the window is start_from <= start < start_to';
    END IF;
    IF (after_start IS NULL) <> (after_id IS NULL) THEN
        RAISE EXCEPTION 'a cursor needs both after_start and after_id'
            USING ERRCODE = 'CP400', HINT = 'pass the start and id of the last row of the previous page';
    END IF;

    SELECT w.is_active, w.profession INTO worker
    FROM public."Worker" AS w
    WHERE w.id = available_shifts.worker_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'worker % does not exist', coalesce(available_shifts.worker_id::text, 'NULL')
            USING ERRCODE = 'CP404';
    END IF;
    IF NOT worker.is_active THEN
        RETURN;  -- an inactive worker is eligible nowhere
    END IF;

    facilities := shifts.eligible_facility_ids(available_shifts.worker_id);
    IF cardinality(facilities) = 0 THEN
        RETURN;
    END IF;
    -- The overlap rule costs one index probe per candidate, and nothing for a worker without claims.
    has_claims := EXISTS (
        SELECT FROM public."Shift" AS c
        WHERE c.worker_id = available_shifts.worker_id AND NOT c.is_deleted);

    -- Two plans, both reading only open shifts in (start, id) order and stopping after max_rows:
    --  * per facility: a range scan of each eligible facility's open shifts, merged; reads up to
    --    (eligible facilities x max_rows) entries;
    --  * one walk over the profession's open shifts, skipping ineligible facilities; reads about
    --    max_rows x (facilities / eligible facilities) entries.
    -- The walk wins once a worker is eligible at more than sqrt(facilities) of them. The setting
    -- carepg.available_shifts_plan ('walk' / 'per_facility') pins one, for tests and benchmarks.
    plan := coalesce(nullif(current_setting('carepg.available_shifts_plan', true), ''), 'auto');
    IF plan = 'auto' THEN
        SELECT CASE WHEN c.reltuples > 0 THEN c.reltuples ELSE 1000 END INTO facility_count
        FROM pg_class AS c
        WHERE c.oid = 'public."Facility"'::regclass;
        plan := CASE WHEN cardinality(facilities)::real * cardinality(facilities) > facility_count
                     THEN 'walk' ELSE 'per_facility' END;
    END IF;

    IF plan = 'walk' THEN
        RETURN QUERY
        SELECT s.id, s.facility_id, f.name, s.start::timestamp, s."end"::timestamp, s.profession
        FROM public."Shift" AS s
        JOIN public."Facility" AS f ON f.id = s.facility_id
        WHERE s.profession = worker.profession
          AND s.worker_id IS NULL
          AND NOT s.is_deleted
          AND s.start >= lower_bound
          AND s.start < upper_bound
          AND (s.start, s.id) > (cursor_start, cursor_id)
          AND s.facility_id = ANY (facilities)
          AND f.is_active
          AND (NOT has_claims OR NOT EXISTS (
              SELECT FROM public."Shift" AS c
              WHERE c.worker_id = available_shifts.worker_id AND NOT c.is_deleted
                AND tsrange(c.start, greatest(c.start, c."end")) && tsrange(s.start, greatest(s.start, s."end"))))
        ORDER BY s.start, s.id
        LIMIT max_rows;
    ELSE
        RETURN QUERY
        SELECT s.id, s.facility_id, f.name, s.start::timestamp, s."end"::timestamp, s.profession
        FROM public."Facility" AS f
        CROSS JOIN LATERAL (
            SELECT o.id, o.facility_id, o.start, o."end", o.profession
            FROM public."Shift" AS o
            WHERE o.profession = worker.profession
              AND o.facility_id = f.id
              AND o.worker_id IS NULL
              AND NOT o.is_deleted
              AND o.start >= lower_bound
              AND o.start < upper_bound
              AND (o.start, o.id) > (cursor_start, cursor_id)
              AND (NOT has_claims OR NOT EXISTS (
                  SELECT FROM public."Shift" AS c
                  WHERE c.worker_id = available_shifts.worker_id AND NOT c.is_deleted
                    AND tsrange(c.start, greatest(c.start, c."end")) && tsrange(o.start, greatest(o.start, o."end"))))
            ORDER BY o.start, o.id
            LIMIT max_rows
        ) AS s
        WHERE f.id = ANY (facilities)
          AND f.is_active
        ORDER BY s.start, s.id
        LIMIT max_rows;
    END IF;
END
$function$;

COMMENT ON FUNCTION shifts.available_shifts(integer, timestamp, timestamp, timestamp, integer, integer) IS
$comment$Open shifts a worker may take, ordered by (start, shift_id), exactly as the committed tables say now.
A shift is available to a worker when: the facility is active, the shift is not deleted, the worker is active, the shift is unclaimed, the worker holds every document the facility requires, the professions match, and the shift does not overlap a non-deleted shift the worker has claimed ([start, end) ranges).
Window: start_from <= start < start_to (NULL = unbounded). Keyset paging: pass the (start, shift_id) of the last row seen as (after_start, after_id). max_rows: 1..1000.
Errors: CP404 unknown worker; CP400 bad argument. An inactive worker gets no rows.$comment$;


CREATE OR REPLACE FUNCTION shifts.count_available_shifts(
    worker_id integer,
    start_from timestamp DEFAULT NULL,
    start_to timestamp DEFAULT NULL
)
RETURNS bigint
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    worker record;
    total bigint;
    has_claims boolean;
BEGIN
    IF start_from > start_to THEN
        RAISE EXCEPTION 'start_from (%) is after start_to (%)', start_from, start_to
            USING ERRCODE = 'CP400', HINT = 'the window is start_from <= start < start_to';
    END IF;
    SELECT w.is_active, w.profession INTO worker
    FROM public."Worker" AS w
    WHERE w.id = count_available_shifts.worker_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'worker % does not exist', coalesce(count_available_shifts.worker_id::text, 'NULL')
            USING ERRCODE = 'CP404';
    END IF;
    IF NOT worker.is_active THEN
        RETURN 0;
    END IF;
    has_claims := EXISTS (
        SELECT FROM public."Shift" AS c
        WHERE c.worker_id = count_available_shifts.worker_id AND NOT c.is_deleted);

    SELECT count(*) INTO total
    FROM public."Facility" AS f
    JOIN public."Shift" AS s ON s.facility_id = f.id
    WHERE f.id = ANY (shifts.eligible_facility_ids(count_available_shifts.worker_id))
      AND f.is_active
      AND s.profession = worker.profession
      AND s.worker_id IS NULL
      AND NOT s.is_deleted
      AND s.start >= coalesce(start_from, '-infinity')
      AND s.start < coalesce(start_to, 'infinity')
      AND (NOT has_claims OR NOT EXISTS (
          SELECT FROM public."Shift" AS c
          WHERE c.worker_id = count_available_shifts.worker_id AND NOT c.is_deleted
            AND tsrange(c.start, greatest(c.start, c."end")) && tsrange(s.start, greatest(s.start, s."end"))));
    RETURN total;
END
$function$;

COMMENT ON FUNCTION shifts.count_available_shifts(integer, timestamp, timestamp) IS
$comment$How many rows shifts.available_shifts() would return for this worker and window, without paging through them.
Errors: CP404 unknown worker; CP400 inverted window.$comment$;
