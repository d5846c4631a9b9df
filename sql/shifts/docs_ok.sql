-- purpose: the one definition of "holds every required document", from the live tables: for a set of facilities
-- (what readers recheck) and for one pair (a diagnostic). The view (shifts_private/eligible_pair.sql) computes the
-- same rule for every pair at once, and claim_shift names the documents it finds missing; tests hold all of them
-- to this one on random data.
--
-- Set logic: duplicate requirement or document rows change nothing, and a facility with no requirements is open
-- to every worker. Neither is granted to any role: carepg_owner's members may call them to diagnose.

SET LOCAL ROLE carepg_owner;

CREATE OR REPLACE FUNCTION shifts_private.facilities_with_documents(worker_id integer, facility_ids integer[])
RETURNS integer[]
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    -- The worker's documents once, as an array: each requirement row is then checked in memory. (PL/pgSQL, not
    -- SQL: readers call it on every read that rechecks, and a SQL function's plan would be made again in every
    -- transaction.)
    RETURN (
        WITH held AS (
            SELECT coalesce(array_agg(d.document_id), '{}') AS docs
            FROM public."DocumentWorker" AS d
            WHERE d.worker_id = facilities_with_documents.worker_id
        )
        SELECT coalesce(array_agg(f.id ORDER BY f.id), '{}')
        FROM (SELECT DISTINCT u.id FROM unnest(facilities_with_documents.facility_ids) AS u (id)) AS f, held AS h
        WHERE NOT EXISTS (SELECT FROM public."FacilityRequirement" AS r
                          WHERE r.facility_id = f.id AND r.document_id <> ALL (h.docs)));
END
$function$;
COMMENT ON FUNCTION shifts_private.facilities_with_documents(integer, integer[]) IS
    'carepg: of the given facilities, those whose every required document the worker holds, from the live tables (the document rule).';

CREATE OR REPLACE FUNCTION shifts.docs_ok(worker_id integer, facility_id integer)
RETURNS boolean
LANGUAGE sql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN cardinality(shifts_private.facilities_with_documents(docs_ok.worker_id, ARRAY[docs_ok.facility_id])) = 1;
COMMENT ON FUNCTION shifts.docs_ok(integer, integer) IS
    'Does the worker hold every document the facility requires? Set logic: duplicates don''t matter, no requirements means yes.';

RESET ROLE;
