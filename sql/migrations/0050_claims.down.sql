-- purpose: undo 0050_claims: the write path's functions, type, lock table and index go, the trigger functions
-- are as 0040 left them (deactivations take nothing, no advisory lock), and carepg_owner may no longer write "Shift".worker_id.
-- Claims made meanwhile stay: they are rows of "Shift", which belongs to the application.

SET LOCAL ROLE carepg_owner;

DROP FUNCTION shifts.claimed_shifts(integer, timestamp, timestamp, timestamp, integer, integer);
DROP FUNCTION shifts.release_shift(integer, integer);
DROP FUNCTION shifts.claim_shift(integer, integer);
DROP TYPE shifts.claimed_shift;
DROP FUNCTION shifts.available_shifts_by_day(integer, timestamp, timestamp, integer);
DROP TABLE shifts_private.worker_claim_lock;

COMMENT ON SCHEMA shifts IS
    'carepg: open shifts. API: available_shifts(), count_available_shifts(), refresh_eligibility(), schedule_refresh(), unschedule_refresh(), eligible_facility_ids(), docs_ok().';

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

RESET ROLE;

DROP INDEX public.carepg_shift_claimed_worker_start_idx;
REVOKE UPDATE (worker_id) ON public."Shift" FROM carepg_owner;
