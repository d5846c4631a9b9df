-- purpose: eligibility that is never stale: the patches that override shifts_private.eligible_pair between
-- refreshes, and the one row that serialises eligibility writers.
--
-- Statement-level triggers on the four tables that decide eligibility (public/eligibility_triggers.sql) write,
-- for every (worker, facility) pair a change may affect, the live truth of "the worker holds every document the
-- facility requires" as a patch. Readers (shifts.eligible_facility_ids) take a patch where one exists and the
-- view otherwise, and read the active flags live, so every call answers what the committed tables say.
-- shifts.refresh_eligibility() folds the patches it has seen into the view and deletes them.
--
-- Why it is right under concurrency:
--  * Every eligibility-changing statement first updates the one row of eligibility_state. That row lock
--    serialises writers: under READ COMMITTED the second writer waits, then recomputes with a fresh snapshot
--    that includes the first writer's commit; under REPEATABLE READ / SERIALIZABLE it gets a serialization
--    failure (40001) and the application retries, as it must for any such conflict.
--  * Claims (shifts.claim_shift) share the row (FOR SHARE), so a writer waits for the claims in flight and claims
--    wait for a writer; an advisory lock taken before the row keeps that fair (begin_eligibility_write).
--  * Patches carry the writing transaction's id. A refresh notes its snapshot before recomputing the view and
--    then deletes only the patches that snapshot already saw, so a patch written during the refresh survives.
--  * Bulk paths that bypass the triggers (TRUNCATE, or carepg.eligibility_maintenance = 'deferred' for a seed)
--    mark the state stale; until the next refresh, readers compute eligibility live for the worker.

SET LOCAL ROLE carepg_owner;

CREATE TABLE shifts_private.eligibility_patch (
    worker_id integer NOT NULL,
    facility_id integer NOT NULL,
    docs_ok boolean NOT NULL,
    patched_by xid8 NOT NULL DEFAULT pg_current_xact_id(),
    PRIMARY KEY (worker_id, facility_id)
);
COMMENT ON TABLE shifts_private.eligibility_patch IS
    'carepg: live document eligibility of pairs changed since the last refresh of shifts_private.eligible_pair; overrides the view.';
COMMENT ON COLUMN shifts_private.eligibility_patch.docs_ok IS
    'true when the worker holds every document the facility requires (active flags are read live, not here).';
COMMENT ON COLUMN shifts_private.eligibility_patch.patched_by IS
    'transaction that wrote this value; a refresh deletes the patches its snapshot had seen.';

CREATE TABLE shifts_private.eligibility_state (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    writes bigint NOT NULL DEFAULT 0,
    stale_by xid8
);
COMMENT ON TABLE shifts_private.eligibility_state IS
    'carepg: one row. Eligibility writers update it to serialise; stale_by marks a bulk change that bypassed maintenance.';
COMMENT ON COLUMN shifts_private.eligibility_state.writes IS 'number of eligibility-changing statements maintained so far.';
COMMENT ON COLUMN shifts_private.eligibility_state.stale_by IS
    'transaction of a bulk change the triggers skipped; readers compute eligibility live until a refresh sees it.';
INSERT INTO shifts_private.eligibility_state DEFAULT VALUES;

RESET ROLE;
