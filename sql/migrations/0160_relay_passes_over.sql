-- purpose: relay passes over; written by `make migration NAME=relay_passes_over` from the current files:
--   function shifts_private.check_acting_for_each(worker_ids integer[]): new, comment
--   function shifts_private.logged_concerning(since pg_snapshot, worker_ids integer[]): new, comment
--   function shifts.cursor_past_unrelated_changes(after text, worker_ids integer[]): new, comment, privileges
--   function shifts.available_shift_changes_for(worker_ids integer[], start_froms timestamp without time zone[], start_tos timestamp without time zone[], after text): definition
--   schema shifts: comment

SET LOCAL ROLE carepg_owner;

CREATE OR REPLACE FUNCTION shifts_private.check_acting_for_each(worker_ids integer[])
 RETURNS void
 LANGUAGE plpgsql
 STABLE PARALLEL SAFE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    acting_worker constant text := coalesce(current_setting('carepg.worker_id', true), '');
    acting_role constant text := coalesce(current_setting('carepg.role', true), '');
    refused integer;
BEGIN
    IF acting_role = 'staff' OR (acting_role = '' AND acting_worker = '') OR coalesce(cardinality(worker_ids), 0) = 0 THEN
        RETURN;  -- staff, a trusted caller that set no identity, or nobody to act for
    END IF;
    SELECT w INTO refused FROM unnest(worker_ids) AS w WHERE w::text IS DISTINCT FROM acting_worker LIMIT 1;
    IF NOT FOUND THEN
        refused := worker_ids[1];  -- all the caller's own: check_acting_for still refuses an identity of no worker
    END IF;
    PERFORM shifts_private.check_acting_for(refused);
END
$function$;

CREATE OR REPLACE FUNCTION shifts_private.logged_concerning(since pg_snapshot, worker_ids integer[])
 RETURNS boolean
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET enable_seqscan TO 'off'
AS $function$
BEGIN
    RETURN EXISTS (SELECT FROM shifts_private.change_log AS c
                   WHERE (c.xid >= pg_snapshot_xmax(since) OR c.xid = ANY (ARRAY(SELECT pg_snapshot_xip(since))))
                     AND (c.kind NOT IN ('documents', 'worker', 'worker_state') OR c.worker_id = ANY (worker_ids)));
END
$function$;

CREATE OR REPLACE FUNCTION shifts.cursor_past_unrelated_changes(after text, worker_ids integer[])
 RETURNS text
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    since constant pg_snapshot := shifts_private.parse_change_cursor(after);
    -- The snapshot the log is read in, taken as available_shift_changes_for takes its next cursor.
    next_cursor constant text := shifts_private.change_cursor(shifts_private.snapshot_excluding_self());
BEGIN
    PERFORM shifts_private.check_acting_for_each(worker_ids);  -- CP403 unless it may act for each
    IF since IS NULL OR pg_snapshot_xmin(since) < (SELECT s.pruned_below FROM shifts_private.eligibility_state AS s) THEN
        RETURN NULL;
    END IF;
    IF NOT shifts_private.logged_since(since) THEN
        RETURN after;
    END IF;
    IF shifts_private.logged_concerning(since, worker_ids) THEN
        RETURN NULL;
    END IF;
    RETURN next_cursor;
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
    bulk boolean;
    -- This call's snapshot, this transaction counted as in flight: its own changes are sent once it commits.
    next_cursor constant text := shifts_private.change_cursor(shifts_private.snapshot_excluding_self());
BEGIN
    PERFORM shifts_private.check_acting_for_each(worker_ids);  -- CP403 unless it may act for each
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
        IF pg_snapshot_xmin(since) < (SELECT s.pruned_below FROM shifts_private.eligibility_state AS s) THEN
            bulk := true;  -- older than the log keeps
        ELSIF shifts_private.logged_since(since) THEN
            -- count(*), not EXISTS: a generic plan for EXISTS over a range of xids scans the whole log hoping
            -- for an early match; this one stays a custom plan, two index ranges.
            bulk := (SELECT count(*) FROM shifts_private.change_log AS c
                     WHERE (c.xid >= since_xmax OR c.xid = ANY (since_in_flight))
                       AND c.kind IN ('everything', 'many_shifts')) > 0;
        ELSE
            since := NULL;  -- nothing logged since: only the cursor
        END IF;
    END IF;
    IF since IS NOT NULL AND subscribers > 0 THEN
        IF bulk THEN
            -- Older than the log keeps, or a bulk change: everybody refetches.
            RETURN QUERY
            SELECT s.n::integer, 'reset', NULL::integer, NULL::integer, NULL::text, NULL::timestamp,
                   NULL::timestamp, NULL::public."Profession", next_cursor
            FROM generate_series(1, subscribers) AS s (n);
        ELSE
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

COMMENT ON FUNCTION shifts.cursor_past_unrelated_changes(after text, worker_ids integer[]) IS $comment$For a poller of many subscribers (carepg serve's relay): NULL when something logged since the cursor may concern one of these workers (read shifts.available_shift_changes_for() then), else a later cursor past changes that concern none of them (other workers' documents or states), to use as if the feed had been read. Errors: CP400 a malformed or foreign cursor; CP403 (DETAIL not_your_worker) when the transaction's identity may not act for one of the workers.$comment$;

COMMENT ON FUNCTION shifts_private.check_acting_for_each(worker_ids integer[]) IS $comment$carepg internal: check_acting_for for every worker of the array, with the caller's identity read once.$comment$;

COMMENT ON FUNCTION shifts_private.logged_concerning(since pg_snapshot, worker_ids integer[]) IS $comment$carepg internal: has anything that may concern one of these workers been logged that the snapshot does not include?$comment$;

COMMENT ON SCHEMA shifts IS $comment$carepg: open shifts. API: available_shifts(), available_shifts_json(), count_available_shifts(), available_shifts_by_day(), claim_shift(), release_shift(), claimed_shifts(), available_shift_changes(), available_shift_changes_for(), shift_changes_since(), cursor_past_unrelated_changes(), refresh_eligibility(), eligibility_status(), schedule_refresh(), unschedule_refresh(), eligible_facility_ids(), docs_ok().$comment$;

GRANT EXECUTE ON FUNCTION shifts.cursor_past_unrelated_changes(after text, worker_ids integer[]) TO carepg_api, carepg_reader;

RESET ROLE;
