-- purpose: relay waits in database; written by `make migration NAME=relay_waits_in_database` from the current files:
--   function shifts.await_concerning_changes(after text, worker_ids integer[], poll interval, timeout interval): new, comment, privileges
--   schema shifts: comment

SET LOCAL ROLE carepg_owner;

CREATE OR REPLACE FUNCTION shifts.await_concerning_changes(after text, worker_ids integer[], poll interval DEFAULT '00:00:00.005'::interval, timeout interval DEFAULT '00:00:00.1'::interval)
 RETURNS text
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
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

COMMENT ON FUNCTION shifts.await_concerning_changes(after text, worker_ids integer[], poll interval, timeout interval) IS $comment$For a poller of many subscribers (carepg serve's relay): shifts.cursor_past_unrelated_changes() asked again every `poll` (1 ms to 1 s) inside the database, returning NULL as soon as something logged may concern one of these workers (read shifts.available_shift_changes_for() from your cursor then), or after `timeout` (0 to 60 s) a later cursor past changes that concern none of them. Under REPEATABLE READ or SERIALIZABLE it asks once. Errors: CP400 a malformed or foreign cursor, or poll or timeout out of range; CP403 (DETAIL not_your_worker) when the transaction's identity may not act for one of the workers.$comment$;

COMMENT ON SCHEMA shifts IS $comment$carepg: open shifts. API: available_shifts(), available_shifts_json(), count_available_shifts(), available_shifts_by_day(), claim_shift(), release_shift(), claimed_shifts(), available_shift_changes(), available_shift_changes_for(), shift_changes_since(), cursor_past_unrelated_changes(), await_concerning_changes(), refresh_eligibility(), eligibility_status(), schedule_refresh(), unschedule_refresh(), eligible_facility_ids(), docs_ok().$comment$;

GRANT EXECUTE ON FUNCTION shifts.await_concerning_changes(after text, worker_ids integer[], poll interval, timeout interval) TO carepg_api, carepg_reader;

RESET ROLE;
