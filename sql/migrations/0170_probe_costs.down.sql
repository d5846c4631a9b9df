-- purpose: undo 0170_probe_costs, written by `make migration`: the same objects as revision 0160 built them.

SET LOCAL ROLE carepg_owner;

CREATE OR REPLACE FUNCTION shifts_private.change_cursor(seen pg_snapshot)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
 SET search_path TO 'pg_catalog', 'pg_temp'
RETURN ((pg_snapshot_xmax(seen))::text || COALESCE(('-'::text || (SELECT string_agg((x.x)::text, '.'::text ORDER BY x.x) AS string_agg FROM pg_snapshot_xip(change_cursor.seen) x(x))), ''::text));

CREATE OR REPLACE FUNCTION shifts_private.parse_change_cursor(cursor text)
 RETURNS pg_snapshot
 LANGUAGE plpgsql
 STABLE PARALLEL SAFE
 SET search_path TO 'pg_catalog', 'pg_temp'
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
    BEGIN
        PERFORM pg_xact_status((xmax::text::numeric - 1)::text::xid8) WHERE xmax > '1';
    EXCEPTION WHEN invalid_parameter_value THEN
        RAISE EXCEPTION 'invalid change cursor %: it names transactions that have not started',
            quote_literal(left(cursor, 40))
            USING ERRCODE = 'CP400', HINT = 'pass the cursor of the last change you received unchanged';
    END;
    RETURN format('%s:%s:%s', coalesce(in_flight[1], xmax), xmax, array_to_string(in_flight, ','))::pg_snapshot;
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

RESET ROLE;
