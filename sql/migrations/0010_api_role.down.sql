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

-- Roles are cluster-wide: other databases on this server (say, clones of this one) may still grant it privileges.
DO $migration$
BEGIN
    DROP ROLE carepg_api;
EXCEPTION WHEN dependent_objects_still_exist THEN
    RAISE NOTICE 'role carepg_api kept: other databases on this server still grant it privileges';
END
$migration$;
