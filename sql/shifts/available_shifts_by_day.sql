-- purpose: what a calendar shows: for each day of a window, how many shifts shifts.available_shifts() offers the
-- worker that day and the first few of them, in one call, so a month is on screen at once without paging from
-- the first shift of the data set.
--
-- One row per shift shown: (day, day_total, then the columns of available_shifts), the first per_day shifts of
-- each day in (start, shift_id) order; day_total counts all of that day's. Days with no available shift have no
-- rows. The rest of a day is one available_shifts() call away: start_from = the day, start_to = the next day,
-- after = the last row shown. Days are start::date (UTC, like the data), cut to [start_from, start_to).
--
-- Errors: CP404 unknown worker; CP400 a missing or inverted window, a window longer than 62 days (a calendar
-- shows a month or a week; the count reads every available shift in the window), per_day outside 1..100.
-- The counts read the same open-shift indexes as count_available_shifts(); each day's first rows are an
-- available_shifts() call, so both answer by the same rules, from the same snapshot.
-- SECURITY DEFINER for the same reasons as available_shifts (see available_shifts.sql).

SET LOCAL ROLE carepg_owner;

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
    PERFORM shifts_private.check_acting_for(available_shifts_by_day.worker_id);  -- CP403 unless the caller may act for this worker
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
Errors: CP404 unknown worker; CP400 bad argument; CP403 (DETAIL not_your_worker) when the transaction's identity (carepg.worker_id, see shifts_private.check_acting_for) is another worker. An inactive worker gets no rows.$comment$;
GRANT EXECUTE ON FUNCTION shifts.available_shifts_by_day(integer, timestamp, timestamp, integer)
    TO carepg_api, carepg_reader;

RESET ROLE;
