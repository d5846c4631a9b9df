-- purpose: the write path's other half: a worker gives back a shift they hold. It is open again at once, to
-- everyone shifts.available_shifts() offers it to.
--
-- Errors: CP404 when the worker does not exist, the shift does not exist, or the worker does not hold it.
-- CP403 (DETAIL not_your_worker) when the transaction's identity is another worker (shifts_private/acting_identity.sql).
-- Locks (claim_shift.sql explains the order): 1. the worker's row of shifts_private.worker_lock, 3. the shift's
-- row FOR UPDATE. A release depends on no facility, so it does not wait for changes to one.
-- SECURITY DEFINER for the same reasons as claim_shift.

SET LOCAL ROLE carepg_owner;

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
    PERFORM shifts_private.check_acting_for(release_shift.worker_id);  -- CP403 unless the caller may act for this worker
    IF release_shift.worker_id IS NULL THEN
        RAISE EXCEPTION 'worker NULL does not exist' USING ERRCODE = 'CP404';
    END IF;
    PERFORM shifts_private.lock_workers(ARRAY[release_shift.worker_id]);

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
Errors: CP404 unknown worker, unknown shift, or a shift the worker does not hold; CP403 (DETAIL not_your_worker) when the transaction's identity (carepg.worker_id, see shifts_private.check_acting_for) is another worker. Locks the worker's row of shifts_private.worker_lock, then the shift FOR UPDATE.$comment$;
GRANT EXECUTE ON FUNCTION shifts.release_shift(integer, integer) TO carepg_api;

RESET ROLE;
