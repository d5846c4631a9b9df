-- purpose: undo 0030: the open-shift indexes as 0002 created them (keys only).
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
