-- purpose: carepg's indexes on the application's tables (the challenge schema has only primary keys).
--
-- Every name starts with carepg_ so it is obvious which indexes on the host's tables are ours. None is unique:
-- the challenge's data has duplicate requirement and document rows. Indexes belong to their table's owner.

-- Open shifts (unclaimed, not deleted) of one profession at one facility, in (start, id) order: one short range
-- scan per eligible facility, merged by shifts.available_shifts(). Partial, so claimed and deleted shifts (three
-- quarters of the challenge seed) are not even in the index; "end" is included so a page is an index-only scan.
CREATE INDEX carepg_shift_open_profession_facility_start_idx
    ON public."Shift" (profession, facility_id, start, id) INCLUDE ("end")
    WHERE worker_id IS NULL AND NOT is_deleted;
COMMENT ON INDEX public.carepg_shift_open_profession_facility_start_idx IS
    'carepg: open shifts by profession and facility in (start, id) order, covering the answer''s columns; serves workers eligible at few facilities.';

-- Open shifts of one profession in (start, id) order across all facilities: when a worker is eligible at many
-- facilities, walking this one index and skipping the ineligible facilities reads fewer rows.
CREATE INDEX carepg_shift_open_profession_start_idx
    ON public."Shift" (profession, start, id) INCLUDE (facility_id, "end")
    WHERE worker_id IS NULL AND NOT is_deleted;
COMMENT ON INDEX public.carepg_shift_open_profession_start_idx IS
    'carepg: open shifts by profession in (start, id) order, covering the answer''s columns; serves workers eligible at many facilities.';

-- The overlap rule: a worker's claimed, non-deleted shifts as [start, end) ranges (btree_gist, carepg_ext).
CREATE INDEX carepg_shift_claimed_range_idx
    ON public."Shift" USING gist (worker_id, tsrange(start, greatest(start, "end")))
    WHERE worker_id IS NOT NULL AND NOT is_deleted;
COMMENT ON INDEX public.carepg_shift_claimed_range_idx IS
    'carepg: each worker''s claimed, non-deleted shifts as [start, end) ranges; finds overlaps in O(log n).';

-- A worker's claimed, non-deleted shifts in (start, id) order: shifts.claimed_shifts() pages them with one range
-- scan, like the open-shift indexes serve available_shifts().
CREATE INDEX carepg_shift_claimed_worker_start_idx
    ON public."Shift" (worker_id, start, id)
    WHERE worker_id IS NOT NULL AND NOT is_deleted;
COMMENT ON INDEX public.carepg_shift_claimed_worker_start_idx IS
    'carepg: each worker''s claimed, non-deleted shifts in (start, id) order; serves shifts.claimed_shifts().';

-- The eligibility check: "every document this facility requires" and "does this worker hold it".
CREATE INDEX carepg_facility_requirement_facility_document_idx
    ON public."FacilityRequirement" (facility_id, document_id);
COMMENT ON INDEX public.carepg_facility_requirement_facility_document_idx IS
    'carepg: the documents a facility requires (duplicates allowed).';

-- "Which facilities require this document?" when a worker gains or loses one.
CREATE INDEX carepg_facility_requirement_document_idx
    ON public."FacilityRequirement" (document_id, facility_id);
COMMENT ON INDEX public.carepg_facility_requirement_document_idx IS
    'carepg: the facilities that require a document (eligibility maintenance).';

CREATE INDEX carepg_document_worker_worker_document_idx
    ON public."DocumentWorker" (worker_id, document_id);
COMMENT ON INDEX public.carepg_document_worker_worker_document_idx IS
    'carepg: the documents a worker holds (duplicates allowed).';
