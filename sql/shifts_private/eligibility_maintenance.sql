-- purpose: what the eligibility triggers call: the serialisation point, and writing patches for a set of pairs.
-- Runs as carepg_owner inside the SECURITY DEFINER trigger functions (eligibility_triggers.sql).

SET LOCAL ROLE carepg_owner;

-- Called first by every maintenance trigger. Returns false when maintenance is deferred (bulk load).
--
-- Claims (shifts.claim_shift) share the serialisation point with writers. They take the advisory lock
-- ('care' as an int4, 2) shared and then the row FOR SHARE; writers take the advisory lock exclusively and then
-- update the row. The advisory lock is what makes it fair: a writer waiting for it goes before the claims that
-- arrive after it (PostgreSQL queues lock requests behind a conflicting waiter), whereas a row's share lock admits
-- new sharers ahead of a waiting writer, so a steady stream of claims could hold a writer off. The row is what a
-- REPEATABLE READ claim needs: locking it after a writer committed past its snapshot fails (40001).
CREATE OR REPLACE FUNCTION shifts_private.begin_eligibility_write()
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    PERFORM pg_advisory_xact_lock(1667330661, 2);
    IF current_setting('carepg.eligibility_maintenance', true) = 'deferred' THEN
        UPDATE shifts_private.eligibility_state SET stale_by = pg_current_xact_id(), writes = writes + 1;
        RETURN false;
    END IF;
    -- The serialisation point (see eligibility_state.sql). Later statements of the trigger take fresh snapshots.
    UPDATE shifts_private.eligibility_state SET writes = writes + 1;
    RETURN true;
END
$function$;
COMMENT ON FUNCTION shifts_private.begin_eligibility_write() IS
    'carepg internal: serialise eligibility writers (and order them with claims) on advisory lock (1667330661, 2) and shifts_private.eligibility_state; false (and mark stale) when maintenance is deferred.';

-- Upsert the live truth for the given pairs, whatever the view says (activations: see patch_changed_pairs).
CREATE OR REPLACE FUNCTION shifts_private.patch_pairs(worker_ids integer[], facility_ids integer[])
RETURNS void
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    INSERT INTO shifts_private.eligibility_patch AS p (worker_id, facility_id, docs_ok, patched_by)
    SELECT DISTINCT pair.w, pair.f, shifts.docs_ok(pair.w, pair.f), pg_current_xact_id()
    FROM unnest(worker_ids, facility_ids) AS pair (w, f)
    ON CONFLICT (worker_id, facility_id)
    DO UPDATE SET docs_ok = excluded.docs_ok, patched_by = excluded.patched_by;
END;
COMMENT ON FUNCTION shifts_private.patch_pairs(integer[], integer[]) IS
    'carepg internal: write the live document eligibility of the pairs (worker_ids[i], facility_ids[i]).';

-- Document and requirement changes write only the pairs whose answer changes, checking documents once per worker.
--
-- A worker gaining or losing a core document touches every facility that requires it (~700 at the large
-- profile), but only the few pairs whose eligibility flips matter. This reads each worker's held documents once
-- as an array, checks each facility's requirements against it, and writes a pair only when
--   * it already has a patch (the patch must keep telling the truth), or
--   * its new value differs from the view's (what readers take when there is no patch), or
--   * eligibility is stale after a bulk load (the view is no baseline then).
-- Why skipping the rest is safe, even against a concurrent refresh whose snapshot predates this change: such a
-- refresh recomputes the pair from its snapshot, i.e. with the documents/requirements from before this change
-- and the active flags of then. The documents side equals the view's value, which equals the new value (else we
-- write). The active flags can differ only if a worker or facility was activated after that snapshot, and an
-- activation always writes patches for all its pairs (patch_pairs, which never skips), and a patch makes us
-- write. A deactivation needs nothing: readers check the active flags live.
CREATE OR REPLACE FUNCTION shifts_private.patch_changed_pairs(worker_ids integer[], facility_ids integer[])
RETURNS void
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    INSERT INTO shifts_private.eligibility_patch AS p (worker_id, facility_id, docs_ok, patched_by)
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
    WHERE (SELECT s.stale_by IS NOT NULL FROM shifts_private.eligibility_state AS s)
       OR EXISTS (SELECT FROM shifts_private.eligibility_patch AS q WHERE q.worker_id = c.w AND q.facility_id = c.f)
       OR c.ok IS DISTINCT FROM EXISTS (SELECT FROM shifts_private.eligible_pair AS e
                                        WHERE e.worker_id = c.w AND e.facility_id = c.f)
    ON CONFLICT (worker_id, facility_id)
    DO UPDATE SET docs_ok = excluded.docs_ok, patched_by = excluded.patched_by;
END;
COMMENT ON FUNCTION shifts_private.patch_changed_pairs(integer[], integer[]) IS
    'carepg internal: like patch_pairs(), but skips pairs whose new value the view already gives (document and requirement changes only; activations must use patch_pairs()).';

RESET ROLE;
