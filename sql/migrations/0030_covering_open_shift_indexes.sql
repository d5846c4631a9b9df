-- purpose: the two open-shift indexes carry every column the answer reads, so pages are index-only scans.
--
-- Measured (bench/bench.py, challenge seed, worker 101): streaming the whole answer (83,473 rows) spent its
-- time fetching heap pages: the answer's rows are spread over 16,571 of the table's ~17,000 pages, because
-- open shifts of one profession are interleaved with claimed, deleted and other professions' rows. With
-- facility_id and "end" in the index (profession, start and id are already keys; worker_id and is_deleted
-- are implied by the predicate) the same scan reads ~1,000 index pages and no heap page once the visibility
-- map is set (autovacuum, or the VACUUM after a seed). Same names, same keys, same predicate: only INCLUDE
-- columns are added, so every plan that used them still does.
DROP INDEX public.carepg_shift_open_profession_start_idx;
CREATE INDEX carepg_shift_open_profession_start_idx
    ON public."Shift" (profession, start, id) INCLUDE (facility_id, "end")
    WHERE worker_id IS NULL AND NOT is_deleted;
COMMENT ON INDEX public.carepg_shift_open_profession_start_idx IS
    'carepg: open shifts by profession in (start, id) order, covering the answer''s columns; serves workers eligible at many facilities.';

DROP INDEX public.carepg_shift_open_profession_facility_start_idx;
CREATE INDEX carepg_shift_open_profession_facility_start_idx
    ON public."Shift" (profession, facility_id, start, id) INCLUDE ("end")
    WHERE worker_id IS NULL AND NOT is_deleted;
COMMENT ON INDEX public.carepg_shift_open_profession_facility_start_idx IS
    'carepg: open shifts by profession and facility in (start, id) order, covering the answer''s columns; serves workers eligible at few facilities.';
