-- purpose: the question: which open shifts may this worker take? One page, exact as of now.
--
-- Errors use carepg's own SQLSTATEs (class CP), which clients map to messages and HTTP statuses:
--   CP404  the worker does not exist
--   CP400  an argument is out of range (max_rows, an inverted window, half a cursor)
--
-- How it answers fast: it reads the worker (unknown or inactive: done), its eligible facilities (the view, with
-- what changed since rechecked live) and its claimed shifts as one tsmultirange, then takes one of two plans,
-- both reading only open shifts from a covering partial index in (start, id) order (index-only) and stopping
-- after max_rows. The overlap rule tests each candidate against the claims in memory (one probe of
-- carepg_shift_claimed_range_idx instead of one per candidate: 16-20 ms -> 1.4 ms for a first page at 20M shifts).
--
-- SECURITY DEFINER, so carepg_api and carepg_reader get answers without reading any table: it returns only what
-- it is written to return, and nothing in it is up to the caller (fixed search_path, qualified names, no dynamic
-- SQL; the plan setting below only chooses between two plans with the same answer).

SET LOCAL ROLE carepg_owner;

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
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    worker record;
    facilities integer[];
    facility_count real;
    plan text;
    claimed tsmultirange;
    -- Unbounded ends become infinities so the same index conditions serve every call.
    lower_bound constant timestamp := coalesce(start_from, '-infinity');
    upper_bound constant timestamp := coalesce(start_to, 'infinity');
    -- Where the index scan starts: the later of the window's start and the cursor, as one (start, id) bound.
    -- The scan starts at the row comparison's bound, so it must be the tight one: with the window's start left
    -- to the other condition, a late window (from=now) would be read from the profession's first open shift.
    cursor_start constant timestamp := greatest(coalesce(after_start, '-infinity'), lower_bound);
    cursor_id constant integer := CASE WHEN after_start >= lower_bound THEN after_id ELSE -2147483648 END;
BEGIN
    PERFORM shifts_private.check_acting_for(available_shifts.worker_id);  -- CP403 unless the caller may act for this worker
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
    -- The overlap rule: the worker's claimed, non-deleted shifts as one multirange, read once (one probe of
    -- carepg_shift_claimed_range_idx's worker_id column); each candidate is then tested in memory.
    SELECT coalesce(range_agg(tsrange(c.start, greatest(c.start, c."end"))), '{}') INTO claimed
    FROM public."Shift" AS c
    WHERE c.worker_id = available_shifts.worker_id AND NOT c.is_deleted;

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
          AND NOT (claimed && tsrange(s.start, greatest(s.start, s."end")))
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
              AND NOT (claimed && tsrange(o.start, greatest(o.start, o."end")))
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
Errors: CP404 unknown worker; CP400 bad argument; CP403 (DETAIL not_your_worker) when the transaction's identity (carepg.worker_id, see shifts_private.check_acting_for) is another worker. An inactive worker gets no rows.$comment$;
GRANT EXECUTE ON FUNCTION shifts.available_shifts(integer, timestamp, timestamp, timestamp, integer, integer)
    TO carepg_api, carepg_reader;

RESET ROLE;
