-- purpose: the facilities where a worker holds every required document, as of now: the view, except for the pairs
-- that changes it does not include yet may have changed, which are computed from the live tables. The first step
-- of available_shifts(); a diagnostic for carepg_owner's members, not granted to any role.
--
-- Which pairs to recheck, from the unseen rows of shifts_private.change_log (change_log.sql lists the kinds): every
-- facility, when the worker appeared or was activated since, or a bulk change happened; otherwise the facilities
-- whose requirements changed or which were activated, and the facilities requiring a document the worker gained
-- or lost (as they require it now: a facility that changed what it requires is rechecked anyway). Usually there is
-- nothing to recheck and the answer is one index scan of the view.
--
-- Generic plans, always: with the values known, the planner probes the end of the log's xid index to estimate
-- "xid >= the view's xmin" on every call (0.42 ms a call against 0.14 ms, with a million rows logged), and the
-- plan it picks is the same: the range runs on the worker's index or on the small partial index of broad kinds.

SET LOCAL ROLE carepg_owner;

CREATE OR REPLACE FUNCTION shifts.eligible_facility_ids(worker_id integer)
RETURNS integer[]
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $function$
DECLARE
    seen pg_snapshot;
    everywhere boolean;
    changed_facilities integer[];
    changed_documents integer[];
    recheck integer[];
    ids integer[];
BEGIN
    SELECT s.view_snapshot INTO seen FROM shifts_private.eligibility_state AS s;
    SELECT bool_or(u.kind IN ('everything', 'worker')),
           array_agg(u.facility_id) FILTER (WHERE u.facility_id IS NOT NULL),
           array_agg(d.id) FILTER (WHERE d.id IS NOT NULL)
    INTO everywhere, changed_facilities, changed_documents
    FROM (SELECT c.kind, c.facility_id, c.document_ids
          FROM shifts_private.change_log AS c
          WHERE c.kind IN ('requirements', 'facility', 'everything')
            AND c.xid >= pg_snapshot_xmin(seen) AND NOT pg_visible_in_snapshot(c.xid, seen)
          UNION ALL
          SELECT c.kind, c.facility_id, c.document_ids
          FROM shifts_private.change_log AS c
          WHERE c.worker_id = eligible_facility_ids.worker_id AND c.kind IN ('documents', 'worker')
            AND c.xid >= pg_snapshot_xmin(seen) AND NOT pg_visible_in_snapshot(c.xid, seen)) AS u
    LEFT JOIN LATERAL unnest(u.document_ids) AS d (id) ON true;

    IF everywhere THEN
        SELECT array_agg(f.id) INTO recheck FROM public."Facility" AS f WHERE f.is_active;
        RETURN shifts_private.facilities_with_documents(eligible_facility_ids.worker_id, coalesce(recheck, '{}'));
    END IF;
    IF changed_documents IS NOT NULL THEN
        SELECT array_agg(DISTINCT r.facility_id) INTO recheck
        FROM public."FacilityRequirement" AS r
        WHERE r.document_id = ANY (changed_documents);
    END IF;
    recheck := coalesce(recheck, '{}') || coalesce(changed_facilities, '{}');

    SELECT array_agg(e.facility_id) INTO ids
    FROM shifts_private.eligible_pair AS e
    WHERE e.worker_id = eligible_facility_ids.worker_id
      AND e.facility_id <> ALL (recheck);
    IF cardinality(recheck) > 0 THEN
        ids := coalesce(ids, '{}') || shifts_private.facilities_with_documents(eligible_facility_ids.worker_id, recheck);
    END IF;
    RETURN coalesce(ids, '{}');
END
$function$;
COMMENT ON FUNCTION shifts.eligible_facility_ids(integer) IS
$comment$Facilities where the worker holds every required document, as of now: shifts_private.eligible_pair, with the pairs that unseen changes (shifts_private.change_log) may have changed computed from the live tables.
May include facilities that are inactive now; callers check Facility.is_active and Worker.is_active live.$comment$;

RESET ROLE;
