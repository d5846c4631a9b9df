-- purpose: undo 0110_acting_identity, written by `make migration`: the same objects as revision 0100 built them.

SET LOCAL ROLE carepg_owner;

CREATE OR REPLACE FUNCTION shifts.available_shifts(worker_id integer, start_from timestamp without time zone DEFAULT NULL::timestamp without time zone, start_to timestamp without time zone DEFAULT NULL::timestamp without time zone, after_start timestamp without time zone DEFAULT NULL::timestamp without time zone, after_id integer DEFAULT NULL::integer, max_rows integer DEFAULT 100)
 RETURNS TABLE(shift_id integer, facility_id integer, facility_name text, start timestamp without time zone, "end" timestamp without time zone, profession public."Profession")
 LANGUAGE plpgsql
 STABLE PARALLEL SAFE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
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

CREATE OR REPLACE FUNCTION shifts.count_available_shifts(worker_id integer, start_from timestamp without time zone DEFAULT NULL::timestamp without time zone, start_to timestamp without time zone DEFAULT NULL::timestamp without time zone)
 RETURNS bigint
 LANGUAGE plpgsql
 STABLE PARALLEL SAFE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    worker record;
    total bigint;
    claimed tsmultirange;
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

CREATE OR REPLACE FUNCTION shifts.available_shifts_by_day(worker_id integer, start_from timestamp without time zone, start_to timestamp without time zone, per_day integer DEFAULT 3)
 RETURNS TABLE(day date, day_total bigint, shift_id integer, facility_id integer, facility_name text, start timestamp without time zone, "end" timestamp without time zone, profession public."Profession")
 LANGUAGE plpgsql
 STABLE PARALLEL SAFE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
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

CREATE OR REPLACE FUNCTION shifts.claim_shift(worker_id integer, shift_id integer)
 RETURNS shifts.claimed_shift
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    worker record;
    shift record;
    facility record;
    missing integer[];
    clash integer;
    locked_facility integer;
BEGIN
    IF claim_shift.worker_id IS NULL THEN
        RAISE EXCEPTION 'worker NULL does not exist' USING ERRCODE = 'CP404';
    END IF;
    -- 1. This worker's turn.
    PERFORM shifts_private.lock_workers(ARRAY[claim_shift.worker_id]);

    SELECT w.is_active, w.profession INTO worker
    FROM public."Worker" AS w
    WHERE w.id = claim_shift.worker_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'worker % does not exist', claim_shift.worker_id USING ERRCODE = 'CP404';
    END IF;
    -- 2. The facility's share, then 3. the shift. After a wait, FOR UPDATE returns the row as the other
    -- transaction left it; should that have moved the shift to another facility, share that one too.
    SELECT s.facility_id INTO locked_facility FROM public."Shift" AS s WHERE s.id = claim_shift.shift_id;
    LOOP
        IF locked_facility IS NOT NULL THEN
            PERFORM shifts_private.lock_facility_shared(locked_facility);
        END IF;
        SELECT s.id, s.start, s."end", s.profession, s.is_deleted, s.facility_id, s.worker_id INTO shift
        FROM public."Shift" AS s
        WHERE s.id = claim_shift.shift_id
        FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'shift % does not exist', coalesce(claim_shift.shift_id::text, 'NULL') USING ERRCODE = 'CP404';
        END IF;
        EXIT WHEN shift.facility_id IS NOT DISTINCT FROM locked_facility;
        locked_facility := shift.facility_id;
    END LOOP;
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

CREATE OR REPLACE FUNCTION shifts.release_shift(worker_id integer, shift_id integer)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    holder integer;
    shift_exists boolean;
BEGIN
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
    -- to the other condition, a late window (from=now) would be read from the profession's first open shift.
    cursor_start constant timestamp := greatest(coalesce(after_start, '-infinity'), lower_bound);
    cursor_id constant integer := CASE WHEN after_start >= lower_bound THEN after_id ELSE -2147483648 END;
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

CREATE OR REPLACE FUNCTION shifts.available_shifts_json(worker_id integer, start_from timestamp without time zone DEFAULT NULL::timestamp without time zone, start_to timestamp without time zone DEFAULT NULL::timestamp without time zone, after_start timestamp without time zone DEFAULT NULL::timestamp without time zone, after_id integer DEFAULT NULL::integer, max_rows integer DEFAULT 100)
 RETURNS text
 LANGUAGE plpgsql
 STABLE PARALLEL SAFE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    items text;
    fetched bigint;
    last_start timestamp;
    last_id integer;
    more boolean;
    next_cursor text := 'null';
BEGIN
    IF max_rows IS NULL OR max_rows < 1 OR max_rows > 1000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 1000, got %', coalesce(max_rows::text, 'NULL')
            USING ERRCODE = 'CP400';
    END IF;

    SELECT string_agg(
               '{"id":' || a.shift_id
               || ',"start":"' || to_char(a.start, 'YYYY-MM-DD"T"HH24:MI:SS.MS')
               || '","end":"' || to_char(a."end", 'YYYY-MM-DD"T"HH24:MI:SS.MS')
               || '","profession":' || CASE a.profession WHEN 'CNA' THEN '"CNA"' WHEN 'LVN' THEN '"LVN"'
                                       WHEN 'RN' THEN '"RN"' ELSE to_json(a.profession::text)::text END
               || ',"facility":{"id":' || a.facility_id
               || ',"name":' || coalesce(to_json(a.facility_name)::text, 'null') || '}}',
               ',' ORDER BY a.n) FILTER (WHERE a.n <= max_rows),
           count(*),
           max(a.start) FILTER (WHERE a.n = max_rows),
           max(a.shift_id) FILTER (WHERE a.n = max_rows)
    INTO items, fetched, last_start, last_id
    FROM shifts.available_shifts(available_shifts_json.worker_id, start_from, start_to, after_start, after_id,
                                 least(max_rows + 1, 1000))
         WITH ORDINALITY AS a (shift_id, facility_id, facility_name, start, "end", profession, n);

    more := fetched > max_rows;
    IF NOT more AND fetched = 1000 AND max_rows = 1000 THEN
        more := EXISTS (
            SELECT FROM shifts.available_shifts(available_shifts_json.worker_id, start_from, start_to,
                                                last_start, last_id, 1));
    END IF;
    IF more THEN
        next_cursor := '"' || translate(encode(convert_to(
            '["' || to_char(last_start, 'YYYY-MM-DD"T"HH24:MI:SS')
            || CASE WHEN date_trunc('second', last_start) = last_start THEN '' ELSE to_char(last_start, '.US') END
            || '",' || last_id || ']', 'UTF8'), 'base64'), E'+/=\n', '-_') || '"';
    END IF;
    RETURN '{"worker_id":' || available_shifts_json.worker_id || ',"shifts":[' || coalesce(items, '')
        || '],"next_cursor":' || next_cursor || '}';
END
$function$;

CREATE OR REPLACE FUNCTION shifts.available_shift_changes_for(worker_ids integer[], start_froms timestamp without time zone[], start_tos timestamp without time zone[], after text)
 RETURNS TABLE(subscriber integer, change text, shift_id integer, facility_id integer, facility_name text, start timestamp without time zone, "end" timestamp without time zone, profession public."Profession", cursor text)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    subscribers constant integer := coalesce(cardinality(worker_ids), 0);
    -- Shifts listed one by one for a worker in one call, at most; past that its subscribers get 'reset'.
    listed_at_most constant integer := 250;
    since pg_snapshot;
    since_xmax xid8;
    since_in_flight xid8[];
    -- This call's snapshot, this transaction counted as in flight: its own changes are sent once it commits.
    next_cursor constant text := shifts_private.change_cursor(shifts_private.snapshot_excluding_self());
BEGIN
    IF subscribers > 10000
       OR coalesce(cardinality(start_froms), 0) <> subscribers OR coalesce(cardinality(start_tos), 0) <> subscribers THEN
        RAISE EXCEPTION 'worker_ids, start_froms and start_tos must have the same length, at most 10000'
            USING ERRCODE = 'CP400';
    END IF;
    IF EXISTS (SELECT FROM unnest(start_froms, start_tos) AS w (f, t) WHERE w.f > w.t) THEN
        RAISE EXCEPTION 'a window''s start is after its end' USING ERRCODE = 'CP400',
            HINT = 'the window is start_from <= start < start_to';
    END IF;
    since := shifts_private.parse_change_cursor(after);
    IF since IS NOT NULL AND subscribers > 0 THEN
        since_xmax := pg_snapshot_xmax(since);
        since_in_flight := ARRAY(SELECT pg_snapshot_xip(since));
        IF pg_snapshot_xmin(since) < (SELECT s.pruned_below FROM shifts_private.eligibility_state AS s)
           OR EXISTS (SELECT FROM shifts_private.change_log AS c
                      WHERE (c.xid >= since_xmax OR c.xid = ANY (since_in_flight))
                        AND c.kind IN ('everything', 'many_shifts')) THEN
            -- Older than the log keeps, or a bulk change: everybody refetches.
            RETURN QUERY
            SELECT s.n::integer, 'reset', NULL::integer, NULL::integer, NULL::text, NULL::timestamp,
                   NULL::timestamp, NULL::public."Profession", next_cursor
            FROM generate_series(1, subscribers) AS s (n);
        ELSIF EXISTS (SELECT FROM shifts_private.change_log AS c
                      WHERE c.xid >= since_xmax OR c.xid = ANY (since_in_flight)) THEN
            RETURN QUERY
            WITH changes AS MATERIALIZED (
                SELECT c.* FROM shifts_private.change_log AS c
                WHERE c.xid >= since_xmax OR c.xid = ANY (since_in_flight)
            ), subs AS (
                SELECT s.n::integer AS n, s.w, s.f, s.t
                FROM unnest(worker_ids, start_froms, start_tos) WITH ORDINALITY AS s (w, f, t, n)
            ), workers AS MATERIALIZED (
                SELECT w.id, w.profession, w.is_active,
                       coalesce((SELECT array_agg(d.document_id) FROM public."DocumentWorker" AS d
                                 WHERE d.worker_id = w.id), '{}') AS held
                FROM public."Worker" AS w
                WHERE w.id IN (SELECT s.w FROM subs AS s)
            ), refetch AS MATERIALIZED (
                -- The worker's own documents, state or claims changed; or a facility's requirements changed so
                -- that the worker's answer there flips; or a facility it may work at was (de)activated.
                SELECT k.id FROM workers AS k
                WHERE EXISTS (SELECT FROM changes AS c
                              WHERE c.worker_id = k.id AND c.kind IN ('documents', 'worker', 'worker_state', 'shift'))
                   OR (k.is_active AND EXISTS (
                           SELECT FROM changes AS c
                           WHERE c.kind = 'requirements'
                             AND (c.document_ids <@ k.held) IS DISTINCT FROM (c.previous_document_ids <@ k.held)))
                   OR (k.is_active AND EXISTS (
                           SELECT FROM changes AS c
                           WHERE c.kind IN ('facility', 'facility_state') AND shifts.docs_ok(k.id, c.facility_id)))
            ), listening AS MATERIALIZED (
                -- Workers that hear of single shifts: active, not refetching; where they may work now.
                SELECT k.id, k.profession, shifts.eligible_facility_ids(k.id) AS facilities
                FROM workers AS k
                WHERE k.is_active AND k.id NOT IN (SELECT r.id FROM refetch AS r)
                  AND EXISTS (SELECT FROM changes AS c WHERE c.kind = 'shift' AND c.profession = k.profession)
            ), candidates AS MATERIALIZED (
                SELECT DISTINCT l.id AS w, c.shift_id
                FROM listening AS l
                JOIN changes AS c ON c.kind = 'shift' AND c.profession = l.profession
                                 AND c.facility_id = ANY (l.facilities)
            ), too_many AS MATERIALIZED (
                -- More shifts than are worth listing one by one: that worker's subscribers refetch instead.
                SELECT x.w AS id FROM candidates AS x GROUP BY x.w HAVING count(*) > listed_at_most
            ), evaluated AS MATERIALIZED (
                SELECT x.w, x.shift_id, s.facility_id, f.name AS facility_name, s.start, s."end", s.profession,
                       s.id IS NOT NULL AND EXISTS (
                           SELECT FROM shifts.available_shifts(x.w, s.start, s.start + interval '1 microsecond',
                                                               s.start, s.id - 1, 1) AS a
                           WHERE a.shift_id = s.id) AS available
                FROM candidates AS x
                LEFT JOIN public."Shift" AS s ON s.id = x.shift_id
                LEFT JOIN public."Facility" AS f ON f.id = s.facility_id
                WHERE x.w NOT IN (SELECT t.id FROM too_many AS t)
            )
            SELECT q.n, q.change, q.shift_id, q.facility_id, q.facility_name, q.start, q."end", q.profession,
                   next_cursor
            FROM (
                SELECT s.n, 'reset' AS change, NULL::integer AS shift_id, NULL::integer AS facility_id,
                       NULL::text AS facility_name, NULL::timestamp AS start, NULL::timestamp AS "end",
                       NULL::public."Profession" AS profession
                FROM subs AS s
                WHERE s.w IN (SELECT r.id FROM refetch AS r) OR s.w IN (SELECT t.id FROM too_many AS t)
                   OR s.w NOT IN (SELECT k.id FROM workers AS k)
                UNION ALL
                SELECT s.n,
                       CASE WHEN e.available AND e.start >= coalesce(s.f, '-infinity')
                                 AND e.start < coalesce(s.t, 'infinity') THEN 'available' ELSE 'unavailable' END,
                       e.shift_id,
                       e.facility_id, e.facility_name, e.start, e."end", e.profession
                FROM subs AS s
                JOIN evaluated AS e ON e.w = s.w
                -- In the subscriber's window now, or in one of the images the change logged (it may have left).
                WHERE (e.start >= coalesce(s.f, '-infinity') AND e.start < coalesce(s.t, 'infinity'))
                   OR EXISTS (SELECT FROM changes AS c
                              WHERE c.kind = 'shift' AND c.shift_id = e.shift_id
                                AND c.start >= coalesce(s.f, '-infinity') AND c.start < coalesce(s.t, 'infinity'))
            ) AS q
            ORDER BY q.n, q.start NULLS FIRST, q.shift_id;
        END IF;
    END IF;
    RETURN QUERY SELECT NULL::integer, 'cursor', NULL::integer, NULL::integer, NULL::text, NULL::timestamp,
                        NULL::timestamp, NULL::public."Profession", next_cursor;
END
$function$;

CREATE OR REPLACE FUNCTION shifts.available_shift_changes(worker_id integer, after text DEFAULT NULL::text, start_from timestamp without time zone DEFAULT NULL::timestamp without time zone, start_to timestamp without time zone DEFAULT NULL::timestamp without time zone)
 RETURNS TABLE(change text, shift_id integer, facility_id integer, facility_name text, start timestamp without time zone, "end" timestamp without time zone, profession public."Profession", cursor text)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    IF NOT EXISTS (SELECT FROM public."Worker" AS w WHERE w.id = available_shift_changes.worker_id) THEN
        RAISE EXCEPTION 'worker % does not exist', coalesce(available_shift_changes.worker_id::text, 'NULL')
            USING ERRCODE = 'CP404';
    END IF;
    RETURN QUERY
    SELECT c.change, c.shift_id, c.facility_id, c.facility_name, c.start, c."end", c.profession, c.cursor
    FROM shifts.available_shift_changes_for(ARRAY[available_shift_changes.worker_id], ARRAY[start_from],
                                            ARRAY[start_to], after) AS c;
END
$function$;

DROP FUNCTION shifts_private.check_acting_for(worker_id integer);

COMMENT ON FUNCTION shifts.available_shift_changes(worker_id integer, after text, start_from timestamp without time zone, start_to timestamp without time zone) IS $comment$What changed since the cursor `after` in what shifts.available_shifts(worker_id, start_from, start_to) returns: rows ('available', the shift as available_shifts returns it now), ('unavailable', shift_id), or ('reset': refetch), then one last row ('cursor', ..., cursor) with the cursor to pass next time.
Start with after = NULL (only the cursor), read the shifts, then call it again with each cursor: the shifts plus the changes equal available_shifts at every moment. Changes are kept 15 minutes after a refresh includes them; an older cursor gets 'reset'.
Errors: CP404 unknown worker; CP400 a malformed cursor or an inverted window.$comment$;

COMMENT ON FUNCTION shifts.available_shift_changes_for(worker_ids integer[], start_froms timestamp without time zone[], start_tos timestamp without time zone[], after text) IS $comment$What changed since the cursor `after` in what shifts.available_shifts(worker_ids[i], start_froms[i], start_tos[i]) returns, for many subscribers at once (at most 10000; a worker may appear several times).
Rows: (subscriber = i, change, shift...) with change 'available' (the shift, as available_shifts would return it now), 'unavailable' (look it up no more), or 'reset' (refetch: too much changed to list, or the cursor is older than the feed keeps); then one last row (NULL, 'cursor', ..., cursor) with the cursor to pass next time. Every row carries that cursor. Pass after = NULL to get only the current cursor.
Errors: CP400 a malformed or foreign cursor, arrays of different lengths, an inverted window. Call it in its own transaction: changes of the calling transaction are sent once it commits.$comment$;

COMMENT ON FUNCTION shifts.available_shifts(worker_id integer, start_from timestamp without time zone, start_to timestamp without time zone, after_start timestamp without time zone, after_id integer, max_rows integer) IS $comment$Open shifts a worker may take, ordered by (start, shift_id), exactly as the committed tables say now.
A shift is available to a worker when: the facility is active, the shift is not deleted, the worker is active, the shift is unclaimed, the worker holds every document the facility requires, the professions match, and the shift does not overlap a non-deleted shift the worker has claimed ([start, end) ranges).
Window: start_from <= start < start_to (NULL = unbounded). Keyset paging: pass the (start, shift_id) of the last row seen as (after_start, after_id). max_rows: 1..1000.
Errors: CP404 unknown worker; CP400 bad argument. An inactive worker gets no rows.$comment$;

COMMENT ON FUNCTION shifts.available_shifts_by_day(worker_id integer, start_from timestamp without time zone, start_to timestamp without time zone, per_day integer) IS $comment$For each day (start::date) of the window start_from <= start < start_to (at most 62 days): how many shifts shifts.available_shifts() offers the worker that day (day_total) and the first per_day of them (1..100), one row per shift shown, ordered by (start, shift_id). Days without available shifts have no rows.
Errors: CP404 unknown worker; CP400 bad argument. An inactive worker gets no rows.$comment$;

COMMENT ON FUNCTION shifts.available_shifts_json(worker_id integer, start_from timestamp without time zone, start_to timestamp without time zone, after_start timestamp without time zone, after_id integer, max_rows integer) IS $comment$One page of shifts.available_shifts() (same arguments, same errors) as the HTTP API's JSON text: {"worker_id", "shifts": [{"id", "start", "end", "profession", "facility": {"id", "name"}}], "next_cursor"}.
Timestamps are ISO 8601 with milliseconds; next_cursor is null on the last page, else an opaque token for the next page (the API's cursor parameter).
Errors: CP404 unknown worker; CP400 bad argument.$comment$;

COMMENT ON FUNCTION shifts.claim_shift(worker_id integer, shift_id integer) IS $comment$Claim a shift for a worker, atomically, if and only if shifts.available_shifts() would offer it to them now; returns it (the columns of available_shifts and newly_claimed). Claiming a shift the worker already holds returns it with newly_claimed = false and changes nothing.
Errors: CP404 unknown worker or shift; CP409 taken by another worker (DETAIL taken) or overlapping a shift the worker holds (overlap); CP403 the worker may not take it (DETAIL shift_deleted, worker_inactive, facility_inactive, profession, documents).
Locks, in order: the worker's row of shifts_private.worker_lock; the shift's facility's row of shifts_private.facility_lock, shared; the shift FOR UPDATE. It waits only for changes of that worker or that facility. Under REPEATABLE READ or SERIALIZABLE a race is a serialization failure (40001): retry.$comment$;

COMMENT ON FUNCTION shifts.claimed_shifts(worker_id integer, start_from timestamp without time zone, start_to timestamp without time zone, after_start timestamp without time zone, after_id integer, max_rows integer) IS $comment$The shifts a worker holds (claimed, not deleted), ordered by (start, shift_id), with the columns of shifts.available_shifts().
Window: start_from <= start < start_to (NULL = unbounded). Keyset paging: pass the (start, shift_id) of the last row seen as (after_start, after_id). max_rows: 1..1000.
Errors: CP404 unknown worker; CP400 bad argument.$comment$;

COMMENT ON FUNCTION shifts.count_available_shifts(worker_id integer, start_from timestamp without time zone, start_to timestamp without time zone) IS $comment$How many rows shifts.available_shifts() would return for this worker and window, without paging through them.
Errors: CP404 unknown worker; CP400 inverted window.$comment$;

COMMENT ON FUNCTION shifts.release_shift(worker_id integer, shift_id integer) IS $comment$Give back a shift the worker holds: it is offered again at once to every worker shifts.available_shifts() would offer it to.
Errors: CP404 unknown worker, unknown shift, or a shift the worker does not hold. Locks the worker's row of shifts_private.worker_lock, then the shift FOR UPDATE.$comment$;

RESET ROLE;
