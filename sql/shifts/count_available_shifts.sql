-- purpose: how many shifts shifts.available_shifts() would return, without paging through them.
-- SECURITY DEFINER for the same reasons as available_shifts (see available_shifts.sql).

SET LOCAL ROLE carepg_owner;

CREATE OR REPLACE FUNCTION shifts.count_available_shifts(
    worker_id integer,
    start_from timestamp DEFAULT NULL,
    start_to timestamp DEFAULT NULL
)
RETURNS bigint
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    worker record;
    total bigint;
    claimed tsmultirange;
BEGIN
    PERFORM shifts_private.check_acting_for(count_available_shifts.worker_id);  -- CP403 unless the caller may act for this worker
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
    SELECT coalesce(range_agg(tsrange(c.start, greatest(c.start, c."end"))), '{}') INTO claimed
    FROM public."Shift" AS c
    WHERE c.worker_id = count_available_shifts.worker_id AND NOT c.is_deleted;

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
      AND NOT (claimed && tsrange(s.start, greatest(s.start, s."end")));
    RETURN total;
END
$function$;

COMMENT ON FUNCTION shifts.count_available_shifts(integer, timestamp, timestamp) IS
$comment$How many rows shifts.available_shifts() would return for this worker and window, without paging through them.
Errors: CP404 unknown worker; CP400 inverted window; CP403 (DETAIL not_your_worker) when the transaction's identity (carepg.worker_id, see shifts_private.check_acting_for) is another worker.$comment$;
GRANT EXECUTE ON FUNCTION shifts.count_available_shifts(integer, timestamp, timestamp) TO carepg_api, carepg_reader;

RESET ROLE;
