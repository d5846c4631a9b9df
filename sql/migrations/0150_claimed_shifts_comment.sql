-- purpose: claimed shifts comment; written by `make migration NAME=claimed_shifts_comment` from the current files:
--   function shifts.claimed_shifts(worker_id integer, start_from timestamp without time zone, start_to timestamp without time zone, after_start timestamp without time zone, after_id integer, max_rows integer): definition

SET LOCAL ROLE carepg_owner;

CREATE OR REPLACE FUNCTION shifts.claimed_shifts(worker_id integer, start_from timestamp without time zone DEFAULT NULL::timestamp without time zone, start_to timestamp without time zone DEFAULT NULL::timestamp without time zone, after_start timestamp without time zone DEFAULT NULL::timestamp without time zone, after_id integer DEFAULT NULL::integer, max_rows integer DEFAULT 100)
 RETURNS TABLE(shift_id integer, facility_id integer, facility_name text, start timestamp without time zone, "end" timestamp without time zone, profession public."Profession")
 LANGUAGE plpgsql
 STABLE PARALLEL SAFE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    lower_bound constant timestamp := coalesce(start_from, '-infinity');
    upper_bound constant timestamp := coalesce(start_to, 'infinity');
    -- Where the index scan starts: the later of the window's start and the cursor, as one (start, id) bound.
    -- The scan starts at the row comparison's bound, so it must be the tight one: with the window's start left
    -- to the other condition, a late window (from=now) would be read from the worker's first claimed shift.
    cursor_start constant timestamp := greatest(coalesce(after_start, '-infinity'), lower_bound);
    cursor_id constant integer := CASE WHEN after_start >= lower_bound THEN after_id ELSE -2147483648 END;
BEGIN
    PERFORM shifts_private.check_acting_for(claimed_shifts.worker_id);  -- CP403 unless the caller may act for this worker
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

RESET ROLE;
