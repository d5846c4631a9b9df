-- purpose: the one definition of "holds every required document", for one pair, from the live tables.
-- A diagnostic for carepg_owner's members and a building block of the maintenance; not granted to any role.

SET LOCAL ROLE carepg_owner;

CREATE OR REPLACE FUNCTION shifts.docs_ok(worker_id integer, facility_id integer)
RETURNS boolean
LANGUAGE sql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN NOT EXISTS (
    SELECT FROM public."FacilityRequirement" AS r
    WHERE r.facility_id = docs_ok.facility_id
      AND NOT EXISTS (
          SELECT FROM public."DocumentWorker" AS d
          WHERE d.worker_id = docs_ok.worker_id AND d.document_id = r.document_id));
COMMENT ON FUNCTION shifts.docs_ok(integer, integer) IS
    'Does the worker hold every document the facility requires? Set logic: duplicates don''t matter, no requirements means yes.';

RESET ROLE;
