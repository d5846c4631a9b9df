-- purpose: the indexes the open-shifts question needs (the challenge schema has only primary keys).
--
-- Every name starts with carepg_ so it is obvious which indexes on the challenge's tables are ours.
-- None of them is unique: the challenge's data has duplicate requirement and document rows.

-- Open shifts (unclaimed, not deleted) of one profession at one facility, in (start, id) order: one short
-- range scan per eligible facility, merged by the function. Partial, so claimed and deleted shifts
-- (three quarters of the challenge seed) are not even in the index.
CREATE INDEX carepg_shift_open_profession_facility_start_idx
    ON public."Shift" (profession, facility_id, start, id)
    WHERE worker_id IS NULL AND NOT is_deleted;
COMMENT ON INDEX public.carepg_shift_open_profession_facility_start_idx IS
    'carepg: open shifts by profession and facility in (start, id) order; serves workers eligible at few facilities.';

-- Open shifts of one profession in (start, id) order across all facilities: when a worker is eligible at
-- many facilities, walking this one index and skipping the ineligible facilities reads fewer rows.
CREATE INDEX carepg_shift_open_profession_start_idx
    ON public."Shift" (profession, start, id)
    WHERE worker_id IS NULL AND NOT is_deleted;
COMMENT ON INDEX public.carepg_shift_open_profession_start_idx IS
    'carepg: open shifts by profession in (start, id) order; serves workers eligible at many facilities.';

-- The eligibility check: "every document this facility requires" and "does this worker hold it".
CREATE INDEX carepg_facility_requirement_facility_document_idx
    ON public."FacilityRequirement" (facility_id, document_id);
COMMENT ON INDEX public.carepg_facility_requirement_facility_document_idx IS
    'carepg: the documents a facility requires (duplicates allowed).';

CREATE INDEX carepg_document_worker_worker_document_idx
    ON public."DocumentWorker" (worker_id, document_id);
COMMENT ON INDEX public.carepg_document_worker_worker_document_idx IS
    'carepg: the documents a worker holds (duplicates allowed).';
