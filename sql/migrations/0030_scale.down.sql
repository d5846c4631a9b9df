-- purpose: undo 0030: the open-shift indexes as 0002 created them (keys only), the view as 0003 defined it.
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
