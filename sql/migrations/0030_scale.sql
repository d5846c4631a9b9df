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


-- 3. Document and requirement changes write only the pairs whose answer changes, checking documents once
--    per worker.
--
-- At the large profile a worker gaining or losing a core document touches every facility that requires it
-- (~700): 0005's _patch() asked docs_ok() per pair (a NOT EXISTS with an index probe per requirement:
-- ~10 ms) and upserted all ~700 patches, although only the few pairs whose eligibility flips matter: a
-- single-document change took 16-30 ms. _patch_changed() reads each worker's held documents once as an
-- array, checks each facility's requirements against it, and writes a pair only when
--   * it already has a patch (the patch must keep telling the truth), or
--   * its new value differs from the view's (what readers take when there is no patch), or
--   * eligibility is stale after a bulk load (the view is no baseline then).
-- Why skipping the rest is safe, even against a concurrent refresh whose snapshot predates this change:
-- such a refresh recomputes the pair from its snapshot, i.e. with the documents/requirements from before
-- this change and the active flags of then. The documents side equals the view's value, which equals the
-- new value (else we write). The active flags can differ only if a worker or facility was activated after
-- that snapshot, and an activation always writes patches for all its pairs (the activation triggers keep
-- 0005's _patch(), which never skips), and a patch makes us write. A deactivation needs nothing: readers
-- check the active flags live.
CREATE FUNCTION shifts._patch_changed(worker_ids integer[], facility_ids integer[])
RETURNS void
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    INSERT INTO shifts.eligibility_patch AS p (worker_id, facility_id, docs_ok, patched_by)
    SELECT c.w, c.f, c.ok, pg_current_xact_id()
    FROM (
        SELECT pair.w, pair.f,
               NOT EXISTS (SELECT FROM public."FacilityRequirement" AS r
                           WHERE r.facility_id = pair.f AND r.document_id <> ALL (h.docs)) AS ok
        FROM (SELECT DISTINCT u.w, u.f FROM unnest(worker_ids, facility_ids) AS u (w, f)) AS pair
        JOIN (SELECT hw.w, coalesce((SELECT array_agg(d.document_id) FROM public."DocumentWorker" AS d
                                     WHERE d.worker_id = hw.w), '{}') AS docs
              FROM (SELECT DISTINCT u.w FROM unnest(worker_ids) AS u (w)) AS hw) AS h ON h.w = pair.w
    ) AS c
    WHERE (SELECT s.stale_by IS NOT NULL FROM shifts.eligibility_state AS s)
       OR EXISTS (SELECT FROM shifts.eligibility_patch AS q WHERE q.worker_id = c.w AND q.facility_id = c.f)
       OR c.ok IS DISTINCT FROM EXISTS (SELECT FROM shifts.eligible_pair AS e
                                        WHERE e.worker_id = c.w AND e.facility_id = c.f)
    ON CONFLICT (worker_id, facility_id)
    DO UPDATE SET docs_ok = excluded.docs_ok, patched_by = excluded.patched_by;
END;
COMMENT ON FUNCTION shifts._patch_changed(integer[], integer[]) IS
    'carepg internal: like _patch(), but skips pairs whose new value the view already gives (document and requirement changes only; activations must use _patch()).';

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
    PERFORM shifts._patch_changed(pair_w, pair_f);
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
    PERFORM shifts._patch_changed(pair_w, pair_f);
    RETURN NULL;
END
$function$;
COMMENT ON FUNCTION shifts._on_facility_requirement_change() IS
    'carepg internal: after FacilityRequirement changes, re-check the changed facilities for every active worker.';
