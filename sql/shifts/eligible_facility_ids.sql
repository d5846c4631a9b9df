-- purpose: the facilities where a worker holds every required document, as of now: the view overridden by
-- the patches (or the live tables after a bulk change). The first step of available_shifts(); a diagnostic for
-- carepg_owner's members, not granted to any role.

SET LOCAL ROLE carepg_owner;

CREATE OR REPLACE FUNCTION shifts.eligible_facility_ids(worker_id integer)
RETURNS integer[]
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    ids integer[];
BEGIN
    IF (SELECT s.stale_by IS NOT NULL FROM shifts_private.eligibility_state AS s) THEN
        -- A bulk change bypassed maintenance: compute from the live tables until the next refresh.
        SELECT array_agg(f.id) INTO ids
        FROM public."Facility" AS f
        WHERE f.is_active AND shifts.docs_ok(eligible_facility_ids.worker_id, f.id);
        RETURN coalesce(ids, '{}');
    END IF;
    SELECT array_agg(x.facility_id) INTO ids
    FROM (
        SELECT e.facility_id
        FROM shifts_private.eligible_pair AS e
        WHERE e.worker_id = eligible_facility_ids.worker_id
          AND NOT EXISTS (
              SELECT FROM shifts_private.eligibility_patch AS p
              WHERE p.worker_id = e.worker_id AND p.facility_id = e.facility_id)
        UNION ALL
        SELECT p.facility_id
        FROM shifts_private.eligibility_patch AS p
        WHERE p.worker_id = eligible_facility_ids.worker_id AND p.docs_ok
    ) AS x;
    RETURN coalesce(ids, '{}');
END
$function$;
COMMENT ON FUNCTION shifts.eligible_facility_ids(integer) IS
$comment$Facilities where the worker holds every required document, as of now: shifts_private.eligible_pair overridden by shifts_private.eligibility_patch (or the live tables after a bulk change).
May include facilities that are inactive now; callers check Facility.is_active and Worker.is_active live.$comment$;

RESET ROLE;
