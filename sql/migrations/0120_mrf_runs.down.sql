-- purpose: undo 0120: mrf.start_ingest as 0040 left it (the client took the run's lock), without mrf.runs(),
-- mrf.hold_run_lock() and mrf.run_lock_key().

SET LOCAL ROLE carepg_owner;

CREATE OR REPLACE FUNCTION mrf.start_ingest(source text, size_bytes bigint)
RETURNS bigint
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
    INSERT INTO mrf_private.ingest_run (source, size_bytes) VALUES (source, size_bytes) RETURNING run_id
$function$;
COMMENT ON FUNCTION mrf.start_ingest(text, bigint) IS 'Record a new ingest run (status running) and return its id; call it outside the loading transaction.';

DROP FUNCTION mrf.runs(integer);
DROP FUNCTION mrf.hold_run_lock(bigint);
DROP FUNCTION mrf.run_lock_key(bigint);

RESET ROLE;
