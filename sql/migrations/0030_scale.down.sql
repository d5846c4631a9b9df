-- purpose: undo 0030: the open-shift indexes as 0002 created them (keys only), the view as 0003 defined it, and
-- the document/requirement triggers as 0005 defined them.

-- First the triggers (back to _patch()), so _patch_changed() and then the view can be dropped.
CREATE OR REPLACE FUNCTION shifts._on_document_worker_change()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    changed_w integer[] := '{}';
    changed_d integer[] := '{}';
    pair_w integer[];
    pair_f integer[];
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT changed_w || array_agg(n.worker_id), changed_d || array_agg(n.document_id)
        INTO changed_w, changed_d FROM new_rows AS n;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        SELECT changed_w || array_agg(o.worker_id), changed_d || array_agg(o.document_id)
        INTO changed_w, changed_d FROM old_rows AS o;
    END IF;
    IF cardinality(changed_w) = 0 OR NOT shifts._begin_eligibility_write() THEN
        RETURN NULL;
    END IF;
    SELECT array_agg(c.w), array_agg(c.f) INTO pair_w, pair_f
    FROM (SELECT DISTINCT ch.w, r.facility_id AS f
          FROM unnest(changed_w, changed_d) AS ch (w, d)
          JOIN public."FacilityRequirement" AS r ON r.document_id = ch.d) AS c;
    PERFORM shifts._patch(pair_w, pair_f);
    RETURN NULL;
END
$function$;
COMMENT ON FUNCTION shifts._on_document_worker_change() IS
    'carepg internal: after DocumentWorker changes, re-check each changed worker at the facilities requiring the changed documents.';

CREATE OR REPLACE FUNCTION shifts._on_facility_requirement_change()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    changed_f integer[] := '{}';
    pair_w integer[];
    pair_f integer[];
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT changed_f || array_agg(n.facility_id) INTO changed_f FROM new_rows AS n;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        SELECT changed_f || array_agg(o.facility_id) INTO changed_f FROM old_rows AS o;
    END IF;
    IF cardinality(changed_f) = 0 OR NOT shifts._begin_eligibility_write() THEN
        RETURN NULL;
    END IF;
    -- Active workers, plus any worker that already has a patch there (it must stay true).
    SELECT array_agg(c.w), array_agg(c.f) INTO pair_w, pair_f
    FROM (SELECT w.id AS w, f.f
          FROM (SELECT DISTINCT unnest(changed_f) AS f) AS f
          CROSS JOIN public."Worker" AS w
          WHERE w.is_active
          UNION
          SELECT p.worker_id, p.facility_id
          FROM shifts.eligibility_patch AS p
          WHERE p.facility_id = ANY (changed_f)) AS c;
    PERFORM shifts._patch(pair_w, pair_f);
    RETURN NULL;
END
$function$;
COMMENT ON FUNCTION shifts._on_facility_requirement_change() IS
    'carepg internal: after FacilityRequirement changes, re-check the changed facilities for every active worker.';

DROP FUNCTION shifts._patch_changed(integer[], integer[]);
DROP INDEX public.carepg_shift_open_profession_start_idx;
CREATE INDEX carepg_shift_open_profession_start_idx
    ON public."Shift" (profession, start, id)
    WHERE worker_id IS NULL AND NOT is_deleted;
COMMENT ON INDEX public.carepg_shift_open_profession_start_idx IS
    'carepg: open shifts by profession in (start, id) order; serves workers eligible at many facilities.';

DROP INDEX public.carepg_shift_open_profession_facility_start_idx;
CREATE INDEX carepg_shift_open_profession_facility_start_idx
    ON public."Shift" (profession, facility_id, start, id)
    WHERE worker_id IS NULL AND NOT is_deleted;
COMMENT ON INDEX public.carepg_shift_open_profession_facility_start_idx IS
    'carepg: open shifts by profession and facility in (start, id) order; serves workers eligible at few facilities.';

DROP MATERIALIZED VIEW shifts.eligible_pair;
CREATE MATERIALIZED VIEW shifts.eligible_pair AS
SELECT w.id AS worker_id, f.id AS facility_id
FROM public."Worker" AS w
CROSS JOIN public."Facility" AS f
WHERE w.is_active
  AND f.is_active
  AND NOT EXISTS (
      SELECT FROM public."FacilityRequirement" AS r
      WHERE r.facility_id = f.id
        AND NOT EXISTS (
            SELECT FROM public."DocumentWorker" AS d
            WHERE d.worker_id = w.id AND d.document_id = r.document_id))
WITH DATA;
COMMENT ON MATERIALIZED VIEW shifts.eligible_pair IS
    'carepg: (worker, facility) pairs where an active worker holds every document an active facility requires. Refresh with shifts.refresh_eligibility().';
CREATE UNIQUE INDEX eligible_pair_worker_facility_key ON shifts.eligible_pair (worker_id, facility_id);
COMMENT ON INDEX shifts.eligible_pair_worker_facility_key IS
    'carepg: one row per pair; lets REFRESH MATERIALIZED VIEW CONCURRENTLY run and serves lookups by worker.';
