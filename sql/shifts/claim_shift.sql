-- purpose: the write path: a worker takes a shift if and only if shifts.available_shifts() would offer it to
-- them at that moment, atomically.
--
-- Errors use carepg's SQLSTATEs; the message says what failed in words and DETAIL names the rule, for programs:
--   CP404  the worker or the shift does not exist
--   CP409  the shift is taken by another worker (DETAIL taken), or it overlaps a non-deleted shift the worker
--          holds (DETAIL overlap)
--   CP403  the worker may not take it: DETAIL shift_deleted, worker_inactive, facility_inactive, profession or
--          documents (the message lists the missing documents); or the caller may not act for this worker at all:
--          DETAIL not_your_worker (the transaction's identity is another worker: shifts_private/acting_identity.sql)
-- Claiming a shift the worker already holds returns it with newly_claimed = false and changes nothing, so a
-- retried request is safe (the other rules are not checked again: the claim exists; release_shift ends it).
--
-- Concurrency. Three locks, always taken in this order and held until the transaction ends (locks.sql):
--   1. the worker's row of shifts_private.worker_lock, exclusively: one worker's claims and releases go one at a
--      time (two claims cannot book overlapping shifts), and a change to that worker's eligibility (documents,
--      activation, profession) waits for a claim in flight, and a claim for such a change;
--   2. the shift's facility's row of shifts_private.facility_lock, shared (behind the facility's advisory queue,
--      so a waiting change goes before later claims): claims at one facility never wait for each other, and a
--      change to its requirements or activation waits for the claims in flight there, and they for it;
--   3. the shift's row, FOR UPDATE: claims of one shift, and the application's own writes of that row, go one at
--      a time.
-- Nothing else: a claim waits for no other worker's changes and no other facility's. release_shift takes 1 and 3,
-- the eligibility triggers take 1 (a worker's change) or 2 (a facility's), so no two of carepg's functions can
-- wait for each other in a cycle. Each later statement reads with a fresh snapshot (READ COMMITTED; the function
-- is VOLATILE), so the rules are checked against everything committed before the locks were granted, and nothing
-- that could change the answer commits before this transaction does: a claim racing a document removal, a
-- requirement change, a deactivation or a deletion of the shift is ordered entirely before it or refused. Under
-- REPEATABLE READ or SERIALIZABLE the snapshot is the transaction's, and locking a row changed since then fails
-- with SQLSTATE 40001 (retry the transaction), which covers every one of those races.
-- A transaction that changes a facility or writes a "Shift" row and then claims, or changes one worker's
-- eligibility while another session claims for that worker at a facility the transaction changed, takes the locks
-- out of this order and can deadlock with a claim; PostgreSQL then aborts one of them (40P01).
--
-- SECURITY DEFINER, so carepg_api and other callers claim without any table privilege: carepg_owner may update
-- only "Shift".worker_id, and nothing in here is up to the caller (fixed search_path, qualified names, no dynamic
-- SQL). No trigger on "Shift": a claim changes no eligibility, and readers read claims live.

SET LOCAL ROLE carepg_owner;

-- The columns of shifts.available_shifts() and whether this call made the claim (false: the worker held it).
CREATE TYPE shifts.claimed_shift AS (
    shift_id integer,
    facility_id integer,
    facility_name text,
    start timestamp,
    "end" timestamp,
    profession public."Profession",
    newly_claimed boolean
);
COMMENT ON TYPE shifts.claimed_shift IS
    'carepg: what shifts.claim_shift() returns: the columns of shifts.available_shifts() and newly_claimed (false when the worker already held the shift).';

CREATE OR REPLACE FUNCTION shifts.claim_shift(worker_id integer, shift_id integer)
RETURNS shifts.claimed_shift
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    worker record;
    shift record;
    facility record;
    missing integer[];
    clash integer;
    locked_facility integer;
BEGIN
    PERFORM shifts_private.check_acting_for(claim_shift.worker_id);  -- CP403 unless the caller may act for this worker
    IF claim_shift.worker_id IS NULL THEN
        RAISE EXCEPTION 'worker NULL does not exist' USING ERRCODE = 'CP404';
    END IF;
    -- 1. This worker's turn.
    PERFORM shifts_private.lock_workers(ARRAY[claim_shift.worker_id]);

    SELECT w.is_active, w.profession INTO worker
    FROM public."Worker" AS w
    WHERE w.id = claim_shift.worker_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'worker % does not exist', claim_shift.worker_id USING ERRCODE = 'CP404';
    END IF;
    -- 2. The facility's share, then 3. the shift. After a wait, FOR UPDATE returns the row as the other
    -- transaction left it; should that have moved the shift to another facility, share that one too.
    SELECT s.facility_id INTO locked_facility FROM public."Shift" AS s WHERE s.id = claim_shift.shift_id;
    LOOP
        IF locked_facility IS NOT NULL THEN
            PERFORM shifts_private.lock_facility_shared(locked_facility);
        END IF;
        SELECT s.id, s.start, s."end", s.profession, s.is_deleted, s.facility_id, s.worker_id INTO shift
        FROM public."Shift" AS s
        WHERE s.id = claim_shift.shift_id
        FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'shift % does not exist', coalesce(claim_shift.shift_id::text, 'NULL') USING ERRCODE = 'CP404';
        END IF;
        EXIT WHEN shift.facility_id IS NOT DISTINCT FROM locked_facility;
        locked_facility := shift.facility_id;
    END LOOP;
    SELECT f.name, f.is_active INTO facility FROM public."Facility" AS f WHERE f.id = shift.facility_id;

    IF shift.is_deleted THEN
        RAISE EXCEPTION 'shift % is deleted', shift.id
            USING ERRCODE = 'CP403', DETAIL = 'shift_deleted';
    END IF;
    IF shift.worker_id = claim_shift.worker_id THEN
        RETURN ROW(shift.id, shift.facility_id, facility.name, shift.start, shift."end", shift.profession, false);
    END IF;
    IF shift.worker_id IS NOT NULL THEN
        RAISE EXCEPTION 'shift % is taken by another worker', shift.id
            USING ERRCODE = 'CP409', DETAIL = 'taken',
                  HINT = format('SELECT * FROM shifts.available_shifts(%s) lists the shifts worker %s may take',
                                claim_shift.worker_id, claim_shift.worker_id);
    END IF;
    IF NOT worker.is_active THEN
        RAISE EXCEPTION 'worker % is not active', claim_shift.worker_id
            USING ERRCODE = 'CP403', DETAIL = 'worker_inactive';
    END IF;
    IF NOT facility.is_active THEN
        RAISE EXCEPTION 'facility % of shift % is not active', shift.facility_id, shift.id
            USING ERRCODE = 'CP403', DETAIL = 'facility_inactive';
    END IF;
    IF shift.profession <> worker.profession THEN
        RAISE EXCEPTION 'shift % is for a %, and worker % is a %', shift.id, shift.profession, claim_shift.worker_id,
            worker.profession
            USING ERRCODE = 'CP403', DETAIL = 'profession';
    END IF;
    -- The document rule from the live tables, as shifts.docs_ok() states it (set logic: duplicates don't count).
    SELECT array_agg(DISTINCT r.document_id ORDER BY r.document_id) INTO missing
    FROM public."FacilityRequirement" AS r
    WHERE r.facility_id = shift.facility_id
      AND NOT EXISTS (SELECT FROM public."DocumentWorker" AS d
                      WHERE d.worker_id = claim_shift.worker_id AND d.document_id = r.document_id);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'worker % lacks documents facility % requires: %', claim_shift.worker_id, shift.facility_id,
            array_to_string(missing, ', ')
            USING ERRCODE = 'CP403', DETAIL = 'documents',
                  HINT = 'the worker needs a "DocumentWorker" row for each of these documents';
    END IF;
    -- The overlap rule, against the worker's claims as they are now (one probe of carepg_shift_claimed_range_idx).
    SELECT c.id INTO clash
    FROM public."Shift" AS c
    WHERE c.worker_id = claim_shift.worker_id
      AND NOT c.is_deleted
      AND tsrange(c.start, greatest(c.start, c."end")) && tsrange(shift.start, greatest(shift.start, shift."end"))
    ORDER BY c.start, c.id
    LIMIT 1;
    IF clash IS NOT NULL THEN
        RAISE EXCEPTION 'shift % overlaps shift %, which worker % holds', shift.id, clash, claim_shift.worker_id
            USING ERRCODE = 'CP409', DETAIL = 'overlap',
                  HINT = format('release that one first: SELECT shifts.release_shift(%s, %s)', claim_shift.worker_id, clash);
    END IF;

    BEGIN
        UPDATE public."Shift" AS s SET worker_id = claim_shift.worker_id WHERE s.id = shift.id;
    EXCEPTION WHEN foreign_key_violation THEN
        -- The worker was deleted (no trigger orders that) between our read and the update's key check.
        RAISE EXCEPTION 'worker % does not exist', claim_shift.worker_id USING ERRCODE = 'CP404';
    END;
    RETURN ROW(shift.id, shift.facility_id, facility.name, shift.start, shift."end", shift.profession, true);
END
$function$;

COMMENT ON FUNCTION shifts.claim_shift(integer, integer) IS
$comment$Claim a shift for a worker, atomically, if and only if shifts.available_shifts() would offer it to them now; returns it (the columns of available_shifts and newly_claimed). Claiming a shift the worker already holds returns it with newly_claimed = false and changes nothing.
Errors: CP404 unknown worker or shift; CP409 taken by another worker (DETAIL taken) or overlapping a shift the worker holds (overlap); CP403 the worker may not take it (DETAIL shift_deleted, worker_inactive, facility_inactive, profession, documents, or not_your_worker: the transaction's identity, carepg.worker_id, is another worker; see shifts_private.check_acting_for).
Locks, in order: the worker's row of shifts_private.worker_lock; the shift's facility's row of shifts_private.facility_lock, shared; the shift FOR UPDATE. It waits only for changes of that worker or that facility. Under REPEATABLE READ or SERIALIZABLE a race is a serialization failure (40001): retry.$comment$;
GRANT EXECUTE ON FUNCTION shifts.claim_shift(integer, integer) TO carepg_api;

RESET ROLE;
