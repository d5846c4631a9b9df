-- purpose: push: what changed in what shifts.available_shifts() returns, since a cursor, for one worker or for
-- many subscribers at once. Other applications poll it (or wake on carepg serve's notifications); carepg serve's
-- event stream (GET /workers/{id}/events) is built on it.
--
-- The feed is shifts_private.change_log read from a cursor: a snapshot, written as "<xmax>" or
-- "<xmax>-<xid>.<xid>..." (the transactions still in flight then), so a change arrives as soon as its transaction
-- commits, whatever the others do, and exactly once per cursor: the rows a cursor does not include are
-- "xid >= xmax or xid in the list", two index conditions on the log. Each call answers every change committed
-- since `after` and returns the cursor to pass next time (the last row, change = 'cursor').
--
-- The events say what is true now, not what changed: for each shift the subscriber should look at again,
-- 'available' (with its start, end and facility) or 'unavailable', evaluated in this call's snapshot by
-- shifts.available_shifts() itself, so a subscriber that applies them in order holds exactly what
-- available_shifts() returns, whatever order concurrent writers committed in, and an event delivered twice (a
-- client resuming from an older cursor) changes nothing. 'reset' means "refetch": the worker's own documents,
-- activation, profession or claims changed (a claim hides every shift it overlaps), a facility's requirements
-- changed so that this worker's answer there flips, a facility the worker may work at was activated or
-- deactivated, more than 250 of its shifts changed since the cursor, a bulk change happened, or the cursor is older
-- than the log keeps (15 minutes after a refresh folds the rows; see refresh_eligibility.sql).
--
-- Which shifts a subscriber hears of: the shifts a statement inserted, claimed, released, deleted or moved
-- (shifts_private.on_shift_change), of the subscriber's worker's profession, at facilities where the worker holds
-- every required document, starting in the subscriber's window (before or after the change). Others cannot
-- change the subscriber's answer, unless the worker's eligibility there changed too, which is a 'reset'.
--
-- Why carepg's triggers do not NOTIFY: PostgreSQL serialises the commits of notifying transactions (a lock held
-- through the commit's WAL flush), which made the application's 8 concurrent document writers 0.35x as fast
-- (PERFORMANCE.md). carepg serve polls this function instead (a few milliseconds apart while anyone listens: an
-- empty poll is one index probe) and NOTIFYs channel carepg_shift_changes for other listeners when it finds
-- changes.

SET LOCAL ROLE carepg_owner;

-- A snapshot as a cursor: "<xmax>[-<xip>.<xip>...]".
-- PL/pgSQL, not SQL: a SQL function with its own search_path is not inlined, so its query would be planned
-- again on every call (70 us of a relay's probe; 5 us as PL/pgSQL, whose plans are kept for the session).
CREATE OR REPLACE FUNCTION shifts_private.change_cursor(seen pg_snapshot)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    RETURN pg_snapshot_xmax(seen)::text
           || coalesce('-' || (SELECT string_agg(x::text, '.' ORDER BY x) FROM pg_snapshot_xip(seen) AS x), '');
END
$function$;
COMMENT ON FUNCTION shifts_private.change_cursor(pg_snapshot) IS
    'carepg internal: a snapshot as a change-feed cursor, "<xmax>[-<xid>.<xid>...]".';

-- A cursor back to its snapshot; CP400 for anything that is not one this feed could have issued.
CREATE OR REPLACE FUNCTION shifts_private.parse_change_cursor(cursor text)
RETURNS pg_snapshot
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    xmax xid8;
    in_flight xid8[];
BEGIN
    IF cursor IS NULL THEN
        RETURN NULL;
    END IF;
    -- At most a thousand transactions in flight (max_connections bounds them), each at most 19 digits.
    IF length(cursor) > 20019 OR cursor !~ '^[0-9]{1,19}(-[0-9]{1,19}(\.[0-9]{1,19})*)?$' THEN
        RAISE EXCEPTION 'invalid change cursor %', quote_literal(left(cursor, 40))
            USING ERRCODE = 'CP400', HINT = 'pass the cursor of the last change you received unchanged';
    END IF;
    xmax := split_part(cursor, '-', 1)::xid8;
    in_flight := string_to_array(nullif(split_part(cursor, '-', 2), ''), '.')::xid8[];
    IF cardinality(in_flight) > 1000 OR EXISTS (SELECT FROM unnest(in_flight) WITH ORDINALITY AS x (id, n)
               WHERE x.id >= xmax OR x.id <= coalesce(in_flight[x.n - 1], '0')) THEN
        RAISE EXCEPTION 'invalid change cursor %', quote_literal(left(cursor, 40))
            USING ERRCODE = 'CP400', HINT = 'pass the cursor of the last change you received unchanged';
    END IF;
    -- No cursor this server issued names a transaction that has not started yet. (One a little newer than this
    -- call's snapshot is fine: another session read the feed a moment later. It gets changes again, harmlessly.)
    -- Only a cursor past this call's snapshot needs asking (in a block of its own: a subtransaction, which the
    -- usual cursor, at or behind the snapshot, does not pay for).
    IF xmax > pg_snapshot_xmax(pg_current_snapshot()) THEN
        BEGIN
            PERFORM pg_xact_status((xmax::text::numeric - 1)::text::xid8);
        EXCEPTION WHEN invalid_parameter_value THEN
            RAISE EXCEPTION 'invalid change cursor %: it names transactions that have not started',
                quote_literal(left(cursor, 40))
                USING ERRCODE = 'CP400', HINT = 'pass the cursor of the last change you received unchanged';
        END;
    END IF;
    RETURN format('%s:%s:%s', coalesce(in_flight[1], xmax), xmax, array_to_string(in_flight, ','))::pg_snapshot;
END
$function$;
COMMENT ON FUNCTION shifts_private.parse_change_cursor(text) IS
    'carepg internal: a change-feed cursor back to its snapshot; CP400 for one this feed could not have issued.';

-- Is anything logged that the snapshot does not include? Asked hundreds of times a second by a poller: the newest
-- xid in the log (one step into the end of its xid index), then the transactions that were in flight, by equality
-- on the same index. Index probes whatever the plan and the statistics: written as "EXISTS (... xid >= xmax OR
-- ...)", a generic plan scanned the whole log hoping for an early match (85 ms with a million rows logged), a
-- custom one is planned anew on each call (0.6 ms), and a statement that logged thousands of rows under one xid
-- makes a sequential scan look cheap for the equality too; hence enable_seqscan = off here.
CREATE OR REPLACE FUNCTION shifts_private.logged_since(since pg_snapshot)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off
AS $function$
BEGIN
    RETURN (SELECT max(c.xid) FROM shifts_private.change_log AS c) >= pg_snapshot_xmax(since)
        OR EXISTS (SELECT FROM shifts_private.change_log AS c
                   WHERE c.xid = ANY (ARRAY(SELECT pg_snapshot_xip(since))));
END
$function$;
COMMENT ON FUNCTION shifts_private.logged_since(pg_snapshot) IS
    'carepg internal: has anything been logged in shifts_private.change_log that the snapshot does not include?';

-- The same question from a cursor: what a poller asks before the real call.
CREATE OR REPLACE FUNCTION shifts.shift_changes_since(after text)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    since constant pg_snapshot := shifts_private.parse_change_cursor(after);
BEGIN
    RETURN since IS NULL OR shifts_private.logged_since(since);
END
$function$;
COMMENT ON FUNCTION shifts.shift_changes_since(text) IS
$comment$Has anything been logged since the cursor (true for NULL)? A cheap probe before calling shifts.available_shift_changes() or available_shift_changes_for(). Errors: CP400 a malformed cursor.$comment$;
GRANT EXECUTE ON FUNCTION shifts.shift_changes_since(text) TO carepg_api, carepg_reader;

-- Has anything been logged since the snapshot that may concern one of these workers: a shift, a facility or bulk
-- change, or a change of one of them (other workers' documents and states concern nobody else)? The rows since a
-- recent cursor are few; an index range finds them (enable_seqscan = off for the reason logged_since gives).
CREATE OR REPLACE FUNCTION shifts_private.logged_concerning(since pg_snapshot, worker_ids integer[])
RETURNS boolean
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off
AS $function$
BEGIN
    RETURN EXISTS (SELECT FROM shifts_private.change_log AS c
                   WHERE (c.xid >= pg_snapshot_xmax(since) OR c.xid = ANY (ARRAY(SELECT pg_snapshot_xip(since))))
                     AND (c.kind NOT IN ('documents', 'worker', 'worker_state') OR c.worker_id = ANY (worker_ids)));
END
$function$;
COMMENT ON FUNCTION shifts_private.logged_concerning(pg_snapshot, integer[]) IS
    'carepg internal: has anything that may concern one of these workers been logged that the snapshot does not include?';

-- What a relay asks first, for all its subscribers at once. Most of what a busy marketplace logs is other workers'
-- documents and states, which change nothing for them; a relay that read the feed for thousands of subscribers
-- after each of those (a few milliseconds per read, every few milliseconds) would take a core from the
-- application's own writes. So: NULL when the feed must be read (something may concern one of these workers, or
-- the cursor is older than the log keeps); otherwise a later cursor with nothing in between for any of them:
-- moving to it is what reading the feed would have done.
CREATE OR REPLACE FUNCTION shifts.cursor_past_unrelated_changes(after text, worker_ids integer[])
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    since constant pg_snapshot := shifts_private.parse_change_cursor(after);
BEGIN
    PERFORM shifts_private.check_acting_for_each(worker_ids);  -- CP403 unless it may act for each
    IF since IS NULL OR pg_snapshot_xmin(since) < (SELECT s.pruned_below FROM shifts_private.eligibility_state AS s) THEN
        RETURN NULL;
    END IF;
    IF NOT shifts_private.logged_since(since) THEN
        RETURN after;  -- the usual answer of an idle marketplace: cheap, no new cursor to make
    END IF;
    IF shifts_private.logged_concerning(since, worker_ids) THEN
        RETURN NULL;
    END IF;
    -- The snapshot the log was just read in (a STABLE function's statements share the caller's), as
    -- available_shift_changes_for takes its next cursor.
    RETURN shifts_private.change_cursor(shifts_private.snapshot_excluding_self());
END
$function$;
COMMENT ON FUNCTION shifts.cursor_past_unrelated_changes(text, integer[]) IS
$comment$For a poller of many subscribers (carepg serve's relay): NULL when something logged since the cursor may concern one of these workers (read shifts.available_shift_changes_for() then), else a later cursor past changes that concern none of them (other workers' documents or states), to use as if the feed had been read. Errors: CP400 a malformed or foreign cursor; CP403 (DETAIL not_your_worker) when the transaction's identity may not act for one of the workers.$comment$;
GRANT EXECUTE ON FUNCTION shifts.cursor_past_unrelated_changes(text, integer[]) TO carepg_api, carepg_reader;

-- The same question, asked again in the database every `poll` until something may concern one of the workers (NULL
-- at once) or `timeout` has passed (the cursor past whatever was logged meanwhile). Two relays that asked from their
-- processes took 19 % of a core at 10 ms (32 % at 5 ms) from the application's writers, with 1,000 idle subscribers;
-- asked here, 10.5 % at 10 ms (17 % at 5 ms), nearly all of it the backends waking up, and the process pays one
-- round trip per `timeout` (bench/push_bench.py --idle-cpu, PERFORMANCE.md "Push"). Each question is a statement of
-- this VOLATILE function, so under READ COMMITTED it sees what committed since the last; under REPEATABLE READ or
-- SERIALIZABLE it could see nothing new, so it asks once and returns. The caller's transaction (a single statement,
-- in autocommit) holds no lock but ACCESS SHARE on the log for at most `timeout`.
CREATE OR REPLACE FUNCTION shifts.await_concerning_changes(
    after text,
    worker_ids integer[],
    poll interval DEFAULT interval '5 milliseconds',
    timeout interval DEFAULT interval '100 milliseconds'
)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    deadline timestamptz;
    moved text := after;
BEGIN
    IF poll IS NULL OR poll < interval '1 millisecond' OR poll > interval '1 second' THEN
        RAISE EXCEPTION 'poll % is out of range', coalesce(poll::text, 'NULL')
            USING ERRCODE = 'CP400', HINT = 'poll every 1 millisecond to 1 second';
    END IF;
    IF timeout IS NULL OR timeout < interval '0' OR timeout > interval '60 seconds' THEN
        RAISE EXCEPTION 'timeout % is out of range', coalesce(timeout::text, 'NULL')
            USING ERRCODE = 'CP400', HINT = 'wait 0 to 60 seconds';
    END IF;
    deadline := clock_timestamp() + timeout;
    LOOP
        moved := shifts.cursor_past_unrelated_changes(moved, worker_ids);
        IF moved IS NULL OR clock_timestamp() >= deadline
           OR current_setting('transaction_isolation') <> 'read committed' THEN
            RETURN moved;
        END IF;
        PERFORM pg_sleep(extract(epoch FROM least(poll, deadline - clock_timestamp())));
    END LOOP;
END
$function$;
COMMENT ON FUNCTION shifts.await_concerning_changes(text, integer[], interval, interval) IS
$comment$For a poller of many subscribers (carepg serve's relay): shifts.cursor_past_unrelated_changes() asked again every `poll` (1 ms to 1 s) inside the database, returning NULL as soon as something logged may concern one of these workers (read shifts.available_shift_changes_for() from your cursor then), or after `timeout` (0 to 60 s) a later cursor past changes that concern none of them. Under REPEATABLE READ or SERIALIZABLE it asks once. Errors: CP400 a malformed or foreign cursor, or poll or timeout out of range; CP403 (DETAIL not_your_worker) when the transaction's identity may not act for one of the workers.$comment$;
GRANT EXECUTE ON FUNCTION shifts.await_concerning_changes(text, integer[], interval, interval)
    TO carepg_api, carepg_reader;

CREATE OR REPLACE FUNCTION shifts.available_shift_changes_for(
    worker_ids integer[],
    start_froms timestamp[],
    start_tos timestamp[],
    after text
)
RETURNS TABLE (
    subscriber integer,
    change text,
    shift_id integer,
    facility_id integer,
    facility_name text,
    start timestamp,
    "end" timestamp,
    profession public."Profession",
    cursor text
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
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
COMMENT ON FUNCTION shifts.available_shift_changes_for(integer[], timestamp[], timestamp[], text) IS
$comment$What changed since the cursor `after` in what shifts.available_shifts(worker_ids[i], start_froms[i], start_tos[i]) returns, for many subscribers at once (at most 10000; a worker may appear several times).
Rows: (subscriber = i, change, shift...) with change 'available' (the shift, as available_shifts would return it now), 'unavailable' (look it up no more), or 'reset' (refetch: too much changed to list, or the cursor is older than the feed keeps); then one last row (NULL, 'cursor', ..., cursor) with the cursor to pass next time. Every row carries that cursor. Pass after = NULL to get only the current cursor.
Errors: CP400 a malformed or foreign cursor, arrays of different lengths, an inverted window; CP403 (DETAIL not_your_worker) when the transaction's identity (carepg.worker_id, see shifts_private.check_acting_for) may not act for one of the workers. Call it in its own transaction: changes of the calling transaction are sent once it commits.$comment$;
GRANT EXECUTE ON FUNCTION shifts.available_shift_changes_for(integer[], timestamp[], timestamp[], text)
    TO carepg_api, carepg_reader;

CREATE OR REPLACE FUNCTION shifts.available_shift_changes(
    worker_id integer,
    after text DEFAULT NULL,
    start_from timestamp DEFAULT NULL,
    start_to timestamp DEFAULT NULL
)
RETURNS TABLE (
    change text,
    shift_id integer,
    facility_id integer,
    facility_name text,
    start timestamp,
    "end" timestamp,
    profession public."Profession",
    cursor text
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    PERFORM shifts_private.check_acting_for(available_shift_changes.worker_id);  -- CP403 unless it may act for them
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
COMMENT ON FUNCTION shifts.available_shift_changes(integer, text, timestamp, timestamp) IS
$comment$What changed since the cursor `after` in what shifts.available_shifts(worker_id, start_from, start_to) returns: rows ('available', the shift as available_shifts returns it now), ('unavailable', shift_id), or ('reset': refetch), then one last row ('cursor', ..., cursor) with the cursor to pass next time.
Start with after = NULL (only the cursor), read the shifts, then call it again with each cursor: the shifts plus the changes equal available_shifts at every moment. Changes are kept 15 minutes after a refresh includes them; an older cursor gets 'reset'.
Errors: CP404 unknown worker; CP400 a malformed cursor or an inverted window; CP403 (DETAIL not_your_worker) when the transaction's identity (carepg.worker_id, see shifts_private.check_acting_for) is another worker.$comment$;
GRANT EXECUTE ON FUNCTION shifts.available_shift_changes(integer, text, timestamp, timestamp)
    TO carepg_api, carepg_reader;

RESET ROLE;
