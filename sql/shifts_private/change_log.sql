-- purpose: what changed, in the order PostgreSQL made it visible: one row per worker or facility whose
-- eligibility a statement may have changed. Readers compute those pairs live until the view includes them.
--
-- The eligibility triggers (eligibility_triggers.sql) write a row here instead of recomputing anything: marking a
-- worker or facility as changed costs one insert whatever the change, needs no agreement with concurrent writers of
-- other workers or facilities (an insert conflicts with nothing), and leaves the work to the readers that ask about
-- that worker, who compute it from the live tables in their own snapshot, so two writers racing on one pair (a
-- document gained while a facility starts requiring it) cannot leave a stale answer behind. A row is "unseen"
-- while the view's snapshot (eligibility_state.view_snapshot) does not include its transaction:
--   xid >= pg_snapshot_xmin(view_snapshot) AND NOT pg_visible_in_snapshot(xid, view_snapshot)
-- which the indexes below answer from the transactions since the last refresh only. A refresh moves that snapshot
-- forward; rows older than the retention it applies are deleted then.
--
-- Kinds, and what a reader of worker w does with an unseen row:
--   documents     (worker_id, document_ids): w's documents changed: recheck the facilities requiring them
--   worker        (worker_id): w appeared, was activated or got this id: recheck w everywhere
--   worker_state  (worker_id): w was deactivated or changed profession: nothing (those are read live)
--   requirements  (facility_id): the facility's requirements changed: recheck it for every worker
--   facility      (facility_id): it appeared, was activated or got this id: recheck it for every worker
--   facility_state (facility_id): it was deactivated: nothing (read live)
--   everything    a bulk change bypassed the triggers' detail (TRUNCATE, deferred maintenance): recheck all

SET LOCAL ROLE carepg_owner;

CREATE TABLE shifts_private.change_log (
    xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    kind text NOT NULL,
    worker_id integer,
    facility_id integer,
    document_ids integer[],
    logged_at timestamptz NOT NULL DEFAULT statement_timestamp(),
    CONSTRAINT change_log_kind_check CHECK (
        CASE kind
            WHEN 'documents' THEN worker_id IS NOT NULL AND document_ids IS NOT NULL AND facility_id IS NULL
            WHEN 'worker' THEN worker_id IS NOT NULL AND facility_id IS NULL
            WHEN 'worker_state' THEN worker_id IS NOT NULL AND facility_id IS NULL
            WHEN 'requirements' THEN facility_id IS NOT NULL AND worker_id IS NULL
            WHEN 'facility' THEN facility_id IS NOT NULL AND worker_id IS NULL
            WHEN 'facility_state' THEN facility_id IS NOT NULL AND worker_id IS NULL
            WHEN 'everything' THEN worker_id IS NULL AND facility_id IS NULL
            ELSE false
        END)
);
COMMENT ON TABLE shifts_private.change_log IS
    'carepg: one row per worker or facility whose eligibility a statement may have changed, with the writing transaction; readers recheck those live until the view includes them.';
COMMENT ON COLUMN shifts_private.change_log.xid IS 'the transaction that made the change (visible exactly when its change is).';
COMMENT ON COLUMN shifts_private.change_log.kind IS
    'documents, worker, worker_state (a worker''s), requirements, facility, facility_state (a facility''s), or everything.';
COMMENT ON COLUMN shifts_private.change_log.document_ids IS 'kind documents: the documents gained or lost.';
COMMENT ON COLUMN shifts_private.change_log.logged_at IS 'when the statement ran; a refresh deletes folded rows older than the retention.';

-- A worker's rows since a snapshot: what a reader of that worker rechecks.
CREATE INDEX change_log_worker_xid_idx ON shifts_private.change_log (worker_id, xid) WHERE worker_id IS NOT NULL;
COMMENT ON INDEX shifts_private.change_log_worker_xid_idx IS 'carepg: a worker''s changes since a snapshot.';
-- Rows every reader must look at (facility-wide and bulk changes), since a snapshot.
CREATE INDEX change_log_broad_xid_idx ON shifts_private.change_log (xid)
    WHERE kind IN ('requirements', 'facility', 'everything');
COMMENT ON INDEX shifts_private.change_log_broad_xid_idx IS 'carepg: changes that concern every worker, since a snapshot.';
-- Retention: the oldest rows go first.
CREATE INDEX change_log_xid_idx ON shifts_private.change_log (xid);
COMMENT ON INDEX shifts_private.change_log_xid_idx IS 'carepg: every change since a snapshot; pruning by age.';

RESET ROLE;
