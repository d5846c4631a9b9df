-- purpose: who waits for whom. The lock rows of workers and facilities, and the one registry of carepg's
-- advisory lock keys.
--
-- A change waits only for what it can change:
--   * a worker's row (worker_lock) orders everything that decides what that one worker may take: their claims and
--     releases (shifts.claim_shift, shifts.release_shift) and changes to their eligibility (their documents, their
--     activation, profession or id; the triggers in eligibility_triggers.sql). All take it exclusively.
--   * a facility's row (facility_lock) orders claims at that facility (shared) with changes to it (its
--     requirements, its activation or id; exclusive).
-- Nothing else is shared: two workers, two facilities, a worker and a facility whose pair no claim is deciding,
-- never wait for each other, and readers take no lock at all. Rows, not advisory locks, because under REPEATABLE
-- READ or SERIALIZABLE locking a row that changed since the transaction's snapshot is a serialization failure
-- (40001): a claim whose snapshot predates a change it would contradict fails instead of deciding on old data.
-- Row locks live in the rows, so a statement touching ten thousand workers does not fill the lock table; it locks
-- them in id order, as every caller does, so two such statements, or one and a claim, cannot deadlock.
--
-- Advisory lock keys (two int4s; the first names the class, as four ASCII letters):
--   ('care', 1)          session: migrators take turns (carepg.migrations.MIGRATION_LOCK; taken before this
--                        schema may exist, so it is not a function here)
--   ('care', 2)          transaction: seeds take turns (carepg.seed.SEED_LOCK)
--   ('cfac', facility)   the queue in front of a facility's row: a change holds it while it waits for the row
--                        (lock_facilities), a claim until its transaction ends (lock_facility_shared)
--   ('mrf' + NUL, run)   session: an ingest run is alive (mrf_private/runs.sql)
-- The facility queue exists because a row's share lock admits new sharers ahead of a waiting writer: without it a
-- steady stream of claims at one facility could hold a requirement change off for ever. A change takes the
-- advisory lock, then the row, then lets the advisory lock go: while it waits for the row it holds the queue, so
-- later claims line up behind it, and it never holds more than one advisory lock, however many facilities a
-- statement touches (the lock table stays small). A claim holds one, shared, until it ends.

SET LOCAL ROLE carepg_owner;

CREATE TABLE shifts_private.worker_lock (
    worker_id integer PRIMARY KEY,
    writes bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE shifts_private.worker_lock IS
    'carepg: one row per worker that claimed, released or had its eligibility changed; updating it orders that worker''s claims, releases and eligibility changes.';
COMMENT ON COLUMN shifts_private.worker_lock.writes IS 'locks taken on this row after the first (claims, releases, eligibility changes).';

CREATE TABLE shifts_private.facility_lock (
    facility_id integer PRIMARY KEY,
    writes bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE shifts_private.facility_lock IS
    'carepg: one row per facility; claims at the facility share it, changes to its requirements or activation update it.';
COMMENT ON COLUMN shifts_private.facility_lock.writes IS 'changes to this facility''s requirements or activation after the first.';
INSERT INTO shifts_private.facility_lock (facility_id) SELECT f.id FROM public."Facility" AS f;

-- The workers' rows, exclusively, in id order (upserted: a worker's first change creates its row). PL/pgSQL, not SQL:
-- its statements' plans are kept for the session, where a SQL function's would be made again in every transaction
-- (most of the cost of a one-document write, measured: PERFORMANCE.md).
CREATE OR REPLACE FUNCTION shifts_private.lock_workers(worker_ids integer[])
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF cardinality(worker_ids) = 1 THEN  -- a claim, a release, a one-row write
        INSERT INTO shifts_private.worker_lock AS l (worker_id) VALUES (worker_ids[1])
        ON CONFLICT (worker_id) DO UPDATE SET writes = l.writes + 1;
        RETURN;
    END IF;
    INSERT INTO shifts_private.worker_lock AS l (worker_id)
    SELECT DISTINCT w.id FROM unnest(worker_ids) AS w (id) WHERE w.id IS NOT NULL ORDER BY w.id
    ON CONFLICT (worker_id) DO UPDATE SET writes = l.writes + 1;
END
$function$;
COMMENT ON FUNCTION shifts_private.lock_workers(integer[]) IS
    'carepg internal: lock the workers'' rows of shifts_private.worker_lock exclusively, in id order, until the transaction ends.';

-- The facilities' rows, exclusively, in id order, each behind its advisory queue. A row this transaction already
-- holds (or nobody holds) is taken at once, without the queue: a claim may be waiting in the queue's shared mode
-- for exactly that row, so queueing again for it would wait on that claim, which waits on us.
CREATE OR REPLACE FUNCTION shifts_private.lock_facilities(facility_ids integer[])
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    id integer;
    taken boolean;
BEGIN
    FOR id IN SELECT DISTINCT f.id FROM unnest(facility_ids) AS f (id) WHERE f.id IS NOT NULL ORDER BY f.id LOOP
        BEGIN
            PERFORM FROM shifts_private.facility_lock AS l WHERE l.facility_id = id FOR NO KEY UPDATE NOWAIT;
            taken := FOUND;
        EXCEPTION WHEN lock_not_available THEN
            taken := false;
        END;
        IF taken THEN
            UPDATE shifts_private.facility_lock AS l SET writes = l.writes + 1 WHERE l.facility_id = id;
            CONTINUE;
        END IF;
        PERFORM pg_advisory_lock(1667653987, id);  -- ('cfac', id): hold the queue while we wait for the row
        BEGIN
            INSERT INTO shifts_private.facility_lock AS l (facility_id) VALUES (id)
            ON CONFLICT (facility_id) DO UPDATE SET writes = l.writes + 1;
        EXCEPTION WHEN OTHERS THEN
            PERFORM pg_advisory_unlock(1667653987, id);
            RAISE;
        END;
        PERFORM pg_advisory_unlock(1667653987, id);
    END LOOP;
END
$function$;
COMMENT ON FUNCTION shifts_private.lock_facilities(integer[]) IS
    'carepg internal: lock the facilities'' rows of shifts_private.facility_lock exclusively, in id order, until the transaction ends (behind advisory lock (''cfac'', id) while it has to wait).';

-- A claim's share of one facility's row, behind the facility's queue. The queue's lock is held until the claim's
-- transaction ends (a claim holds one; nothing to release on an error), so a change waiting in the queue also
-- waits for the claims that got ahead of it, as it must anyway for the row.
CREATE OR REPLACE FUNCTION shifts_private.lock_facility_shared(facility_id integer)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(1667653987, lock_facility_shared.facility_id);
    PERFORM FROM shifts_private.facility_lock AS l WHERE l.facility_id = lock_facility_shared.facility_id FOR SHARE;
    IF NOT FOUND THEN  -- a facility made while the triggers were off: give it its row
        INSERT INTO shifts_private.facility_lock (facility_id) VALUES (lock_facility_shared.facility_id)
        ON CONFLICT DO NOTHING;
        PERFORM FROM shifts_private.facility_lock AS l WHERE l.facility_id = lock_facility_shared.facility_id
        FOR SHARE;
    END IF;
END
$function$;
COMMENT ON FUNCTION shifts_private.lock_facility_shared(integer) IS
    'carepg internal: share the facility''s row of shifts_private.facility_lock until the transaction ends, behind advisory lock (''cfac'', id), as a claim at that facility does.';

RESET ROLE;
