-- purpose: probe costs; written by `make migration NAME=probe_costs` from the current files:
--   function shifts_private.change_cursor(seen pg_snapshot): definition
--   function shifts_private.parse_change_cursor(cursor text): definition
--   function shifts.cursor_past_unrelated_changes(after text, worker_ids integer[]): definition

SET LOCAL ROLE carepg_owner;

CREATE OR REPLACE FUNCTION shifts_private.change_cursor(seen pg_snapshot)
 RETURNS text
 LANGUAGE plpgsql
 IMMUTABLE PARALLEL SAFE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    RETURN pg_snapshot_xmax(seen)::text
           || coalesce('-' || (SELECT string_agg(x::text, '.' ORDER BY x) FROM pg_snapshot_xip(seen) AS x), '');
END
$function$;

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

CREATE OR REPLACE FUNCTION shifts.cursor_past_unrelated_changes(after text, worker_ids integer[])
 RETURNS text
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
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

RESET ROLE;
