-- purpose: undo 0010_api_role: the functions run as their caller again, PUBLIC may execute them, carepg_api loses
-- its grants in this database, and the role itself is dropped unless another database still grants it something.

ALTER FUNCTION shifts.available_shifts(integer, timestamp, timestamp, timestamp, integer, integer) SECURITY INVOKER;
ALTER FUNCTION shifts.count_available_shifts(integer, timestamp, timestamp) SECURITY INVOKER;

REVOKE EXECUTE ON FUNCTION shifts.available_shifts(integer, timestamp, timestamp, timestamp, integer, integer) FROM carepg_api;
REVOKE EXECUTE ON FUNCTION shifts.count_available_shifts(integer, timestamp, timestamp) FROM carepg_api;
REVOKE USAGE ON SCHEMA shifts FROM carepg_api;

GRANT EXECUTE ON FUNCTION shifts.available_shifts(integer, timestamp, timestamp, timestamp, integer, integer) TO PUBLIC;
GRANT EXECUTE ON FUNCTION shifts.count_available_shifts(integer, timestamp, timestamp) TO PUBLIC;
GRANT EXECUTE ON FUNCTION shifts.refresh_eligibility(boolean) TO PUBLIC;

COMMENT ON FUNCTION shifts.available_shifts(integer, timestamp, timestamp, timestamp, integer, integer) IS
$comment$Open shifts a worker may take, ordered by (start, shift_id).
A shift is available to a worker when: the facility is active, the shift is not deleted, the worker is active, the shift is unclaimed, the worker holds every document the facility requires, and the professions match.
Window: start_from <= start < start_to (NULL = unbounded). Keyset paging: pass the (start, shift_id) of the last row seen as (after_start, after_id). max_rows: 1..1000.
Errors: CP404 unknown worker; CP400 bad argument. An inactive worker gets no rows.
Document eligibility comes from shifts.eligible_pair (as of its last refresh); active flags are read live.$comment$;

COMMENT ON FUNCTION shifts.count_available_shifts(integer, timestamp, timestamp) IS
$comment$How many rows shifts.available_shifts() would return for this worker and window, without paging through them.
Errors: CP404 unknown worker; CP400 inverted window.$comment$;

COMMENT ON FUNCTION shifts.refresh_eligibility(boolean) IS
$comment$Recompute shifts.eligible_pair from the live tables.
CONCURRENTLY (the default) never blocks readers; pass false for a faster refresh that locks readers out while it runs.$comment$;

-- Roles are cluster-wide: other databases on this server (say, clones of this one) may still grant it privileges.
DO $migration$
BEGIN
    DROP ROLE carepg_api;
EXCEPTION WHEN dependent_objects_still_exist THEN
    RAISE NOTICE 'role carepg_api kept: other databases on this server still grant it privileges';
END
$migration$;
