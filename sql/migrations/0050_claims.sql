-- purpose: the write path. A worker claims a shift by the rules available_shifts() answers with, atomically,
-- releases it and lists their claims; a calendar reads a window day by day.
--
-- * shifts.claim_shift(), release_shift(), claimed_shifts() and available_shifts_by_day(), granted to carepg_api
--   (the two read functions to carepg_reader too). carepg_owner may now update "Shift".worker_id, which the write
--   functions need (and which lets them lock a shift's row FOR UPDATE); nothing else of the host's.
-- * shifts_private.worker_claim_lock: the per-worker row that claims and releases lock first.
-- * Deactivating a worker or a facility, and changing a worker's profession, take the eligibility serialisation
--   point (before, they needed no patch and took nothing), so a claim racing one is ordered before or after it.
--   Eligibility writers take an advisory lock before that row, which claims take shared: a waiting writer goes
--   before the claims that come after it.
-- * carepg_shift_claimed_worker_start_idx: a worker's claims in (start, id) order, for claimed_shifts().
--
-- Every object is as its file under sql/ (the current definitions) says at this revision.

-- --- what carepg_owner may write of the application's tables (sql/public/grants.sql) ------------------------------
GRANT UPDATE (worker_id) ON public."Shift" TO carepg_owner;

-- --- a worker's claims in order (sql/public/indexes.sql) ----------------------------------------------------------
-- A worker's claimed, non-deleted shifts in (start, id) order: shifts.claimed_shifts() pages them with one range
-- scan, like the open-shift indexes serve available_shifts().
CREATE INDEX carepg_shift_claimed_worker_start_idx
    ON public."Shift" (worker_id, start, id)
    WHERE worker_id IS NOT NULL AND NOT is_deleted;
COMMENT ON INDEX public.carepg_shift_claimed_worker_start_idx IS
    'carepg: each worker''s claimed, non-deleted shifts in (start, id) order; serves shifts.claimed_shifts().';

-- --- definitions (sql/shifts_private/, sql/shifts/) ---------------------------------------------------------------
SET LOCAL ROLE carepg_owner;

COMMENT ON SCHEMA shifts IS
    'carepg: open shifts. API: available_shifts(), count_available_shifts(), available_shifts_by_day(), claim_shift(), release_shift(), claimed_shifts(), refresh_eligibility(), schedule_refresh(), unschedule_refresh(), eligible_facility_ids(), docs_ok().';

CREATE TABLE shifts_private.worker_claim_lock (
    worker_id integer PRIMARY KEY,
    writes bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE shifts_private.worker_claim_lock IS
    'carepg: one row per worker that claimed or released through shifts.claim_shift()/release_shift(); updating it serialises that worker''s claims.';
COMMENT ON COLUMN shifts_private.worker_claim_lock.writes IS 'claims and releases of this worker after the first.';

-- Called first by every maintenance trigger. Returns false when maintenance is deferred (bulk load).
--
-- Claims (shifts.claim_shift) share the serialisation point with writers. They take the advisory lock
-- ('care' as an int4, 2) shared and then the row FOR SHARE; writers take the advisory lock exclusively and then
-- update the row. The advisory lock is what makes it fair: a writer waiting for it goes before the claims that
-- arrive after it (PostgreSQL queues lock requests behind a conflicting waiter), whereas a row's share lock admits
-- new sharers ahead of a waiting writer, so a steady stream of claims could hold a writer off. The row is what a
-- REPEATABLE READ claim needs: locking it after a writer committed past its snapshot fails (40001).
CREATE OR REPLACE FUNCTION shifts_private.begin_eligibility_write()
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    PERFORM pg_advisory_xact_lock(1667330661, 2);
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
    'carepg internal: serialise eligibility writers (and order them with claims) on advisory lock (1667330661, 2) and shifts_private.eligibility_state; false (and mark stale) when maintenance is deferred.';

-- A worker appeared or became active (or changed id): the view may not know it, or know it from before a
-- deactivation during which its facilities' requirements changed. A deactivation or a change of profession needs
-- no patch (readers check Worker.is_active and profession live), but it takes the serialisation point all the
-- same, so that a claim in flight (shifts.claim_shift, which shares that row) is ordered entirely before or after
-- it.
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
        IF activated IS NULL
           AND EXISTS (SELECT FROM old_rows AS o
                       WHERE o.is_active
                         AND NOT EXISTS (SELECT FROM new_rows AS n
                                         WHERE n.id = o.id AND n.is_active AND n.profession = o.profession)) THEN
            PERFORM shifts_private.begin_eligibility_write();  -- deactivated or changed profession
            RETURN NULL;
        END IF;
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
    'carepg internal: when a worker is inserted or activated, patch its eligibility at every facility; a deactivation or change of profession only takes the serialisation point.';

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
        IF activated IS NULL
           AND EXISTS (SELECT FROM old_rows AS o
                       WHERE o.is_active AND NOT EXISTS (SELECT FROM new_rows AS n WHERE n.id = o.id AND n.is_active)) THEN
            PERFORM shifts_private.begin_eligibility_write();  -- deactivated: order it with claims in flight
            RETURN NULL;
        END IF;
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
    'carepg internal: when a facility is inserted or activated, patch its eligibility for every active worker; a deactivation only takes the serialisation point.';

-- TRUNCATE has no transition tables: fall back to live answers until the next refresh.
CREATE OR REPLACE FUNCTION shifts_private.on_truncate()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    PERFORM pg_advisory_xact_lock(1667330661, 2);  -- as begin_eligibility_write() does
    UPDATE shifts_private.eligibility_state SET stale_by = pg_current_xact_id(), writes = writes + 1;
    RETURN NULL;
END
$function$;
COMMENT ON FUNCTION shifts_private.on_truncate() IS
    'carepg internal: after TRUNCATE of an eligibility table, answer from the live tables until the next refresh.';

CREATE OR REPLACE FUNCTION shifts.available_shifts_by_day(
    worker_id integer,
    start_from timestamp,
    start_to timestamp,
    per_day integer DEFAULT 3
)
RETURNS TABLE (
    day date,
    day_total bigint,
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
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    worker record;
    facilities integer[];
    claimed tsmultirange;
    d record;
BEGIN
    IF per_day IS NULL OR per_day < 1 OR per_day > 100 THEN
        RAISE EXCEPTION 'per_day must be between 1 and 100, got %', coalesce(per_day::text, 'NULL')
            USING ERRCODE = 'CP400';
    END IF;
    IF start_from IS NULL OR start_to IS NULL THEN
        RAISE EXCEPTION 'available_shifts_by_day needs both start_from and start_to'
            USING ERRCODE = 'CP400', HINT = 'the window is start_from <= start < start_to, at most 62 days';
    END IF;
    IF start_from > start_to THEN
        RAISE EXCEPTION 'start_from (%) is after start_to (%)', start_from, start_to
            USING ERRCODE = 'CP400', HINT = 'the window is start_from <= start < start_to';
    END IF;
    IF start_to - start_from > interval '62 days' THEN
        RAISE EXCEPTION 'the window from % to % is longer than 62 days', start_from, start_to
            USING ERRCODE = 'CP400', HINT = 'ask for a month or a week at a time';
    END IF;
    SELECT w.is_active, w.profession INTO worker
    FROM public."Worker" AS w
    WHERE w.id = available_shifts_by_day.worker_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'worker % does not exist', coalesce(available_shifts_by_day.worker_id::text, 'NULL')
            USING ERRCODE = 'CP404';
    END IF;
    IF NOT worker.is_active THEN
        RETURN;
    END IF;
    facilities := shifts.eligible_facility_ids(available_shifts_by_day.worker_id);
    IF cardinality(facilities) = 0 THEN
        RETURN;
    END IF;
    SELECT coalesce(range_agg(tsrange(c.start, greatest(c.start, c."end"))), '{}') INTO claimed
    FROM public."Shift" AS c
    WHERE c.worker_id = available_shifts_by_day.worker_id AND NOT c.is_deleted;

    -- One count over the window, then one available_shifts() call per day that has shifts (at most 63). A loop
    -- rather than a LATERAL join: the planner cannot know how few rows either side has, and its estimate of a
    -- join of two set-returning sources is large enough to switch JIT on, which costs more than the query.
    FOR d IN
        SELECT s.start::date AS day, count(*) AS total
        FROM public."Facility" AS f
        JOIN public."Shift" AS s ON s.facility_id = f.id
        WHERE f.id = ANY (facilities)
          AND f.is_active
          AND s.profession = worker.profession
          AND s.worker_id IS NULL
          AND NOT s.is_deleted
          AND s.start >= available_shifts_by_day.start_from
          AND s.start < available_shifts_by_day.start_to
          AND NOT (claimed && tsrange(s.start, greatest(s.start, s."end")))
        GROUP BY 1
        ORDER BY 1
    LOOP
        -- The cursor "just before the day's first row" says no more than the window does, but it is what the
        -- index scans start from: without it they start at the beginning of the data and read every earlier day.
        RETURN QUERY
        SELECT d.day, d.total, a.shift_id, a.facility_id, a.facility_name, a.start, a."end", a.profession
        FROM shifts.available_shifts(
            available_shifts_by_day.worker_id,
            greatest(d.day::timestamp, available_shifts_by_day.start_from),
            least((d.day + 1)::timestamp, available_shifts_by_day.start_to),
            greatest(d.day::timestamp, available_shifts_by_day.start_from), -2147483648,
            available_shifts_by_day.per_day) AS a;
    END LOOP;
END
$function$;

COMMENT ON FUNCTION shifts.available_shifts_by_day(integer, timestamp, timestamp, integer) IS
$comment$For each day (start::date) of the window start_from <= start < start_to (at most 62 days): how many shifts shifts.available_shifts() offers the worker that day (day_total) and the first per_day of them (1..100), one row per shift shown, ordered by (start, shift_id). Days without available shifts have no rows.
Errors: CP404 unknown worker; CP400 bad argument. An inactive worker gets no rows.$comment$;
GRANT EXECUTE ON FUNCTION shifts.available_shifts_by_day(integer, timestamp, timestamp, integer)
    TO carepg_api, carepg_reader;

-- The columns of shifts.available_shifts() and whether this call made the claim (false: the worker held it).
CREATE TYPE shifts.claimed_shift AS (
    shift_id integer,
    facility_id integer,
    facility_name text,
    start timestamp,
    "end" timestamp,
    profession public."Profession",
    newly_claimed boolean
);
COMMENT ON TYPE shifts.claimed_shift IS
    'carepg: what shifts.claim_shift() returns: the columns of shifts.available_shifts() and newly_claimed (false when the worker already held the shift).';

CREATE OR REPLACE FUNCTION shifts.claim_shift(worker_id integer, shift_id integer)
RETURNS shifts.claimed_shift
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    worker record;
    shift record;
    facility record;
    missing integer[];
    clash integer;
BEGIN
    IF claim_shift.worker_id IS NULL THEN
        RAISE EXCEPTION 'worker NULL does not exist' USING ERRCODE = 'CP404';
    END IF;
    -- 1. This worker's turn.
    INSERT INTO shifts_private.worker_claim_lock AS l (worker_id) VALUES (claim_shift.worker_id)
    ON CONFLICT ON CONSTRAINT worker_claim_lock_pkey DO UPDATE SET writes = l.writes + 1;
    -- 2. No eligibility write in flight, and none until we commit (the advisory lock queues us fairly with the
    --    writers, the row makes a REPEATABLE READ claim fail if one committed since its snapshot; see
    --    shifts_private.begin_eligibility_write).
    PERFORM pg_advisory_xact_lock_shared(1667330661, 2);
    PERFORM FROM shifts_private.eligibility_state FOR SHARE;

    SELECT w.is_active, w.profession INTO worker
    FROM public."Worker" AS w
    WHERE w.id = claim_shift.worker_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'worker % does not exist', claim_shift.worker_id USING ERRCODE = 'CP404';
    END IF;
    -- 3. The shift. After a wait, FOR UPDATE returns the row as the other transaction left it.
    SELECT s.id, s.start, s."end", s.profession, s.is_deleted, s.facility_id, s.worker_id INTO shift
    FROM public."Shift" AS s
    WHERE s.id = claim_shift.shift_id
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'shift % does not exist', coalesce(claim_shift.shift_id::text, 'NULL') USING ERRCODE = 'CP404';
    END IF;
    SELECT f.name, f.is_active INTO facility FROM public."Facility" AS f WHERE f.id = shift.facility_id;

    IF shift.is_deleted THEN
        RAISE EXCEPTION 'shift % is deleted', shift.id
            USING ERRCODE = 'CP403', DETAIL = 'shift_deleted';
    END IF;
    IF shift.worker_id = claim_shift.worker_id THEN
        RETURN ROW(shift.id, shift.facility_id, facility.name, shift.start, shift."end", shift.profession, false);
    END IF;
    IF shift.worker_id IS NOT NULL THEN
        RAISE EXCEPTION 'shift % is taken by another worker', shift.id
            USING ERRCODE = 'CP409', DETAIL = 'taken',
                  HINT = format('SELECT * FROM shifts.available_shifts(%s) lists the shifts worker %s may take',
                                claim_shift.worker_id, claim_shift.worker_id);
    END IF;
    IF NOT worker.is_active THEN
        RAISE EXCEPTION 'worker % is not active', claim_shift.worker_id
            USING ERRCODE = 'CP403', DETAIL = 'worker_inactive';
    END IF;
    IF NOT facility.is_active THEN
        RAISE EXCEPTION 'facility % of shift % is not active', shift.facility_id, shift.id
            USING ERRCODE = 'CP403', DETAIL = 'facility_inactive';
    END IF;
    IF shift.profession <> worker.profession THEN
        RAISE EXCEPTION 'shift % is for a %, and worker % is a %', shift.id, shift.profession, claim_shift.worker_id,
            worker.profession
            USING ERRCODE = 'CP403', DETAIL = 'profession';
    END IF;
    -- The document rule from the live tables, as shifts.docs_ok() states it (set logic: duplicates don't count).
    SELECT array_agg(DISTINCT r.document_id ORDER BY r.document_id) INTO missing
    FROM public."FacilityRequirement" AS r
    WHERE r.facility_id = shift.facility_id
      AND NOT EXISTS (SELECT FROM public."DocumentWorker" AS d
                      WHERE d.worker_id = claim_shift.worker_id AND d.document_id = r.document_id);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'worker % lacks documents facility % requires: %', claim_shift.worker_id, shift.facility_id,
            array_to_string(missing, ', ')
            USING ERRCODE = 'CP403', DETAIL = 'documents',
                  HINT = 'the worker needs a "DocumentWorker" row for each of these documents';
    END IF;
    -- The overlap rule, against the worker's claims as they are now (one probe of carepg_shift_claimed_range_idx).
    SELECT c.id INTO clash
    FROM public."Shift" AS c
    WHERE c.worker_id = claim_shift.worker_id
      AND NOT c.is_deleted
      AND tsrange(c.start, greatest(c.start, c."end")) && tsrange(shift.start, greatest(shift.start, shift."end"))
    ORDER BY c.start, c.id
    LIMIT 1;
    IF clash IS NOT NULL THEN
        RAISE EXCEPTION 'shift % overlaps shift %, which worker % holds', shift.id, clash, claim_shift.worker_id
            USING ERRCODE = 'CP409', DETAIL = 'overlap',
                  HINT = format('release that one first: SELECT shifts.release_shift(%s, %s)', claim_shift.worker_id, clash);
    END IF;

    BEGIN
        UPDATE public."Shift" AS s SET worker_id = claim_shift.worker_id WHERE s.id = shift.id;
    EXCEPTION WHEN foreign_key_violation THEN
        -- The worker was deleted (no trigger orders that) between our read and the update's key check.
        RAISE EXCEPTION 'worker % does not exist', claim_shift.worker_id USING ERRCODE = 'CP404';
    END;
    RETURN ROW(shift.id, shift.facility_id, facility.name, shift.start, shift."end", shift.profession, true);
END
$function$;

COMMENT ON FUNCTION shifts.claim_shift(integer, integer) IS
$comment$Claim a shift for a worker, atomically, if and only if shifts.available_shifts() would offer it to them now; returns it (the columns of available_shifts and newly_claimed). Claiming a shift the worker already holds returns it with newly_claimed = false and changes nothing.
Errors: CP404 unknown worker or shift; CP409 taken by another worker (DETAIL taken) or overlapping a shift the worker holds (overlap); CP403 the worker may not take it (DETAIL shift_deleted, worker_inactive, facility_inactive, profession, documents).
Locks, in order: the worker's claim row; advisory lock (1667330661, 2) shared and shifts_private.eligibility_state FOR SHARE; the shift FOR UPDATE. Under REPEATABLE READ or SERIALIZABLE a race is a serialization failure (40001): retry.$comment$;
GRANT EXECUTE ON FUNCTION shifts.claim_shift(integer, integer) TO carepg_api;

CREATE OR REPLACE FUNCTION shifts.release_shift(worker_id integer, shift_id integer)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    holder integer;
    shift_exists boolean;
BEGIN
    IF release_shift.worker_id IS NULL THEN
        RAISE EXCEPTION 'worker NULL does not exist' USING ERRCODE = 'CP404';
    END IF;
    INSERT INTO shifts_private.worker_claim_lock AS l (worker_id) VALUES (release_shift.worker_id)
    ON CONFLICT ON CONSTRAINT worker_claim_lock_pkey DO UPDATE SET writes = l.writes + 1;

    SELECT s.worker_id INTO holder
    FROM public."Shift" AS s
    WHERE s.id = release_shift.shift_id
    FOR UPDATE;
    shift_exists := FOUND;
    IF shift_exists AND holder = release_shift.worker_id THEN
        UPDATE public."Shift" AS s SET worker_id = NULL WHERE s.id = release_shift.shift_id;
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT FROM public."Worker" AS w WHERE w.id = release_shift.worker_id) THEN
        RAISE EXCEPTION 'worker % does not exist', release_shift.worker_id USING ERRCODE = 'CP404';
    END IF;
    IF NOT shift_exists THEN
        RAISE EXCEPTION 'shift % does not exist', coalesce(release_shift.shift_id::text, 'NULL') USING ERRCODE = 'CP404';
    END IF;
    RAISE EXCEPTION 'worker % does not hold shift %', release_shift.worker_id, release_shift.shift_id
        USING ERRCODE = 'CP404',
              HINT = format('SELECT * FROM shifts.claimed_shifts(%s) lists the shifts worker %s holds',
                            release_shift.worker_id, release_shift.worker_id);
END
$function$;

COMMENT ON FUNCTION shifts.release_shift(integer, integer) IS
$comment$Give back a shift the worker holds: it is offered again at once to every worker shifts.available_shifts() would offer it to.
Errors: CP404 unknown worker, unknown shift, or a shift the worker does not hold. Locks the worker's claim row, then the shift FOR UPDATE.$comment$;
GRANT EXECUTE ON FUNCTION shifts.release_shift(integer, integer) TO carepg_api;

CREATE OR REPLACE FUNCTION shifts.claimed_shifts(
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
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
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
    IF NOT EXISTS (SELECT FROM public."Worker" AS w WHERE w.id = claimed_shifts.worker_id) THEN
        RAISE EXCEPTION 'worker % does not exist', coalesce(claimed_shifts.worker_id::text, 'NULL')
            USING ERRCODE = 'CP404';
    END IF;

    RETURN QUERY
    SELECT s.id, s.facility_id, f.name, s.start::timestamp, s."end"::timestamp, s.profession
    FROM public."Shift" AS s
    JOIN public."Facility" AS f ON f.id = s.facility_id
    WHERE s.worker_id = claimed_shifts.worker_id
      AND NOT s.is_deleted
      AND s.start >= lower_bound
      AND s.start < upper_bound
      AND (s.start, s.id) > (cursor_start, cursor_id)
    ORDER BY s.start, s.id
    LIMIT max_rows;
END
$function$;

COMMENT ON FUNCTION shifts.claimed_shifts(integer, timestamp, timestamp, timestamp, integer, integer) IS
$comment$The shifts a worker holds (claimed, not deleted), ordered by (start, shift_id), with the columns of shifts.available_shifts().
Window: start_from <= start < start_to (NULL = unbounded). Keyset paging: pass the (start, shift_id) of the last row seen as (after_start, after_id). max_rows: 1..1000.
Errors: CP404 unknown worker; CP400 bad argument.$comment$;
GRANT EXECUTE ON FUNCTION shifts.claimed_shifts(integer, timestamp, timestamp, timestamp, integer, integer)
    TO carepg_api, carepg_reader;

RESET ROLE;
