-- purpose: what the benchmark (bench/bench.py) found at scale. Two changes, each measured before it was made.
--
-- 1. The two open-shift indexes carry every column the answer reads, so pages are index-only scans.
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


-- 2. The eligible-pairs view, computed from the rarest required document instead of every pair.
--
-- 0003 asks "no required document the worker lacks" for every active worker x active facility: at the large
-- profile (80,000 x 1,900 active) that is 152M pairs, each probing the facility's 5-15 requirements, and a
-- refresh took ~3 minutes. The answer is ~1.5M pairs. A worker eligible at a facility must hold the
-- facility's least-held required document, so candidates come only from its holders; each candidate is then
-- checked in one step ("held documents" array contains "required documents" array). Same rows (checked with
-- EXCEPT both ways on the large profile: 1,553,611 pairs), ~4.6 s instead of ~180 s. Set logic is unchanged:
-- duplicates are folded by DISTINCT, a facility without requirements is open to every active worker (second
-- branch), Document.is_active is not consulted. The two branches are disjoint and each yields a pair once,
-- so UNION ALL keeps the unique index valid.
DROP MATERIALIZED VIEW shifts.eligible_pair;
CREATE MATERIALIZED VIEW shifts.eligible_pair AS
WITH held AS (
    SELECT d.worker_id, array_agg(DISTINCT d.document_id) AS docs
    FROM public."DocumentWorker" AS d
    GROUP BY d.worker_id
), holders AS (
    SELECT d.document_id, count(*) AS n
    FROM public."DocumentWorker" AS d
    GROUP BY d.document_id
), needed AS (
    SELECT r.facility_id, array_agg(DISTINCT r.document_id) AS docs,
           (array_agg(r.document_id ORDER BY coalesce(h.n, 0), r.document_id))[1] AS rarest
    FROM public."FacilityRequirement" AS r
    LEFT JOIN holders AS h ON h.document_id = r.document_id
    GROUP BY r.facility_id
)
SELECT w.id AS worker_id, f.id AS facility_id
FROM needed AS n
JOIN public."Facility" AS f ON f.id = n.facility_id
JOIN (SELECT DISTINCT d.worker_id, d.document_id FROM public."DocumentWorker" AS d) AS c ON c.document_id = n.rarest
JOIN held AS h ON h.worker_id = c.worker_id
JOIN public."Worker" AS w ON w.id = c.worker_id
WHERE f.is_active AND w.is_active AND h.docs @> n.docs
UNION ALL
SELECT w.id, f.id
FROM public."Facility" AS f
CROSS JOIN public."Worker" AS w
WHERE f.is_active AND w.is_active
  AND NOT EXISTS (SELECT FROM public."FacilityRequirement" AS r WHERE r.facility_id = f.id)
WITH DATA;
COMMENT ON MATERIALIZED VIEW shifts.eligible_pair IS
    'carepg: (worker, facility) pairs where an active worker holds every document an active facility requires. Refresh with shifts.refresh_eligibility().';
CREATE UNIQUE INDEX eligible_pair_worker_facility_key ON shifts.eligible_pair (worker_id, facility_id);
COMMENT ON INDEX shifts.eligible_pair_worker_facility_key IS
    'carepg: one row per pair; lets REFRESH MATERIALIZED VIEW CONCURRENTLY run and serves lookups by worker.';
