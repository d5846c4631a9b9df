-- purpose: the public API: shifts.available_shifts(), shifts.count_available_shifts(),
-- shifts.refresh_eligibility().
--
-- Errors use carepg's own SQLSTATEs (class CP), which clients map to messages and HTTP statuses:
--   CP404  the worker does not exist
--   CP400  an argument is out of range (max_rows, an inverted window, half a cursor)

CREATE FUNCTION shifts.available_shifts(
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

    SELECT array_agg(e.facility_id) INTO facilities
    FROM shifts.eligible_pair AS e
    WHERE e.worker_id = available_shifts.worker_id;
    IF facilities IS NULL THEN
        RETURN;
    END IF;

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
$comment$Open shifts a worker may take, ordered by (start, shift_id).
A shift is available to a worker when: the facility is active, the shift is not deleted, the worker is active, the shift is unclaimed, the worker holds every document the facility requires, and the professions match.
Window: start_from <= start < start_to (NULL = unbounded). Keyset paging: pass the (start, shift_id) of the last row seen as (after_start, after_id). max_rows: 1..1000.
Errors: CP404 unknown worker; CP400 bad argument. An inactive worker gets no rows.
Document eligibility comes from shifts.eligible_pair (as of its last refresh); active flags are read live.$comment$;


CREATE FUNCTION shifts.count_available_shifts(
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

    SELECT count(*) INTO total
    FROM shifts.eligible_pair AS e
    JOIN public."Facility" AS f ON f.id = e.facility_id
    JOIN public."Shift" AS s ON s.facility_id = e.facility_id
    WHERE e.worker_id = count_available_shifts.worker_id
      AND f.is_active
      AND s.profession = worker.profession
      AND s.worker_id IS NULL
      AND NOT s.is_deleted
      AND s.start >= coalesce(start_from, '-infinity')
      AND s.start < coalesce(start_to, 'infinity');
    RETURN total;
END
$function$;

COMMENT ON FUNCTION shifts.count_available_shifts(integer, timestamp, timestamp) IS
$comment$How many rows shifts.available_shifts() would return for this worker and window, without paging through them.
Errors: CP404 unknown worker; CP400 inverted window.$comment$;


CREATE FUNCTION shifts.refresh_eligibility(concurrent boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF concurrent THEN
        -- Readers keep reading the old contents while the new ones are computed.
        REFRESH MATERIALIZED VIEW CONCURRENTLY shifts.eligible_pair;
    ELSE
        REFRESH MATERIALIZED VIEW shifts.eligible_pair;
    END IF;
END
$function$;

COMMENT ON FUNCTION shifts.refresh_eligibility(boolean) IS
$comment$Recompute shifts.eligible_pair from the live tables.
CONCURRENTLY (the default) never blocks readers; pass false for a faster refresh that locks readers out while it runs.$comment$;
