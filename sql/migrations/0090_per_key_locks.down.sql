-- purpose: undo 0090: eligibility writers serialise on advisory lock ('care', 2) and the eligibility_state row
-- again, and write patches; the functions as 0050 and 0070 left them. The change log is dropped; the state is
-- marked stale, so readers compute live until the next refresh.

SET LOCAL ROLE carepg_owner;

DROP FUNCTION shifts.eligibility_status();
CREATE TABLE shifts_private.eligibility_patch (
    worker_id integer NOT NULL,
    facility_id integer NOT NULL,
    docs_ok boolean NOT NULL,
    patched_by xid8 NOT NULL DEFAULT pg_current_xact_id(),
    PRIMARY KEY (worker_id, facility_id)
);
COMMENT ON TABLE shifts_private.eligibility_patch IS
    'carepg: live document eligibility of pairs changed since the last refresh of shifts_private.eligible_pair; overrides the view.';
COMMENT ON COLUMN shifts_private.eligibility_patch.docs_ok IS
    'true when the worker holds every document the facility requires (active flags are read live, not here).';
COMMENT ON COLUMN shifts_private.eligibility_patch.patched_by IS
    'transaction that wrote this value; a refresh deletes the patches its snapshot had seen.';
ALTER TABLE shifts_private.eligibility_state DROP COLUMN view_snapshot, DROP COLUMN refreshed_at,
    DROP COLUMN pruned_below,
    ADD COLUMN writes bigint NOT NULL DEFAULT 0,
    ADD COLUMN stale_by xid8;
COMMENT ON TABLE shifts_private.eligibility_state IS
    'carepg: one row. Eligibility writers update it to serialise; stale_by marks a bulk change that bypassed maintenance.';
COMMENT ON COLUMN shifts_private.eligibility_state.writes IS 'number of eligibility-changing statements maintained so far.';
COMMENT ON COLUMN shifts_private.eligibility_state.stale_by IS
    'transaction of a bulk change the triggers skipped; readers compute eligibility live until a refresh sees it.';
UPDATE shifts_private.eligibility_state SET stale_by = pg_current_xact_id();

ALTER TABLE shifts_private.worker_lock RENAME TO worker_claim_lock;
ALTER TABLE shifts_private.worker_claim_lock RENAME CONSTRAINT worker_lock_pkey TO worker_claim_lock_pkey;
COMMENT ON TABLE shifts_private.worker_claim_lock IS
    'carepg: one row per worker that claimed or released through shifts.claim_shift()/release_shift(); updating it serialises that worker''s claims.';
COMMENT ON COLUMN shifts_private.worker_claim_lock.writes IS 'claims and releases of this worker after the first.';

-- claim_shift and the triggers' functions first: they call what is dropped below.
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

CREATE OR REPLACE FUNCTION shifts.docs_ok(worker_id integer, facility_id integer)
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

COMMENT ON SCHEMA shifts_private IS
    'carepg: private objects of open shifts (eligibility view, patches, maintenance); call the functions in schema shifts instead.';
COMMENT ON SCHEMA shifts IS
    'carepg: open shifts. API: available_shifts(), available_shifts_json(), count_available_shifts(), available_shifts_by_day(), claim_shift(), release_shift(), claimed_shifts(), refresh_eligibility(), schedule_refresh(), unschedule_refresh(), eligible_facility_ids(), docs_ok().';

DROP FUNCTION shifts_private.lock_facility_shared(integer);
DROP FUNCTION shifts_private.lock_facilities(integer[]);
DROP FUNCTION shifts_private.lock_workers(integer[]);
DROP FUNCTION shifts_private.log_everything();
DROP FUNCTION shifts_private.maintenance_deferred();
DROP FUNCTION shifts_private.snapshot_excluding_self();
DROP FUNCTION shifts_private.facilities_with_documents(integer, integer[]);
DROP TABLE shifts_private.facility_lock;
DROP TABLE shifts_private.change_log;

RESET ROLE;
