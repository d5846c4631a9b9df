-- purpose: least privilege for the HTTP API: a role, carepg_api, that can EXECUTE the API's two read functions
-- and nothing else (no table, view or sequence privilege at all).
--
-- How a role without table access can still get answers: the two functions become SECURITY DEFINER, so they
-- read the tables with their owner's rights and return only what they are written to return. That is safe
-- because their search_path is fixed (`pg_catalog, pg_temp`, set since 0004; pg_temp last, every other name
-- schema-qualified), so a caller cannot slip its own objects into them.
-- EXECUTE is revoked from PUBLIC (the default grants it to every role) and granted per function: a function
-- that a later migration adds to schema shifts is NOT callable by carepg_api until that migration grants it.
-- shifts.refresh_eligibility() is not granted: it writes, and the API only reads.
--
-- Roles are cluster-wide: the role is created only when absent (another database on the same server may
-- have made it already). It can log in without a password, which the local cluster (trust on its unix
-- socket) accepts; on any other server give it one: ALTER ROLE carepg_api PASSWORD '...'.

DO $migration$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'carepg_api') THEN
        CREATE ROLE carepg_api LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS;
    END IF;
EXCEPTION
    -- Another database of this server, migrated at the same moment, created it between the check and here.
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$migration$;

COMMENT ON ROLE carepg_api IS
$comment$carepg: the HTTP API's role (`carepg serve` connects as it). It may only EXECUTE shifts.available_shifts() and shifts.count_available_shifts(); it has no table access.$comment$;

GRANT USAGE ON SCHEMA shifts TO carepg_api;

ALTER FUNCTION shifts.available_shifts(integer, timestamp, timestamp, timestamp, integer, integer) SECURITY DEFINER;
ALTER FUNCTION shifts.count_available_shifts(integer, timestamp, timestamp) SECURITY DEFINER;

REVOKE EXECUTE ON FUNCTION shifts.available_shifts(integer, timestamp, timestamp, timestamp, integer, integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION shifts.count_available_shifts(integer, timestamp, timestamp) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION shifts.refresh_eligibility(boolean) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION shifts.available_shifts(integer, timestamp, timestamp, timestamp, integer, integer) TO carepg_api;
GRANT EXECUTE ON FUNCTION shifts.count_available_shifts(integer, timestamp, timestamp) TO carepg_api;

