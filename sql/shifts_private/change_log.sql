-- purpose: what changed, in the order PostgreSQL made it visible: one row per worker, facility or shift a
-- statement changed. Eligibility readers recheck the pairs it names until the view includes them; the push feed
-- (shifts.available_shift_changes) tells subscribers which of their shifts to look at again.
--
-- The triggers (eligibility_triggers.sql, shift_triggers.sql) write rows here instead of recomputing anything:
-- logging a change costs one insert whatever it touches, needs no agreement with concurrent writers of other
-- workers or facilities (an insert conflicts with nothing), and leaves the work to the readers that ask about that
-- worker, who compute it from the live tables in their own snapshot, so two writers racing on one pair (a document
-- gained while a facility starts requiring it) cannot leave a stale answer behind. A row is "unseen" by a snapshot
-- (the view's: eligibility_state.view_snapshot; a subscriber's: its cursor) while that snapshot does not include
-- the row's transaction:
--   xid >= pg_snapshot_xmax(s) OR xid = ANY (pg_snapshot_xip(s))    (then: NOT pg_visible_in_snapshot(xid, s))
-- which the xid indexes below answer from the transactions since that snapshot only. A refresh moves the view's
-- snapshot forward and deletes rows the view includes that are older than the retention (15 minutes).
--
-- Kinds, and what a reader does with an unseen row:
--   documents      (worker_id, document_ids): the worker's documents changed: recheck the facilities requiring them
--   worker         (worker_id): the worker appeared, was activated or got this id: recheck it everywhere
--   worker_state   (worker_id): deactivated or another profession: nothing for eligibility (read live)
--   requirements   (facility_id, document_ids = required now, previous_document_ids = required before):
--                  recheck the facility for every worker
--   facility       (facility_id): it appeared, was activated or got this id: recheck it for every worker
--   facility_state (facility_id): it was deactivated: nothing for eligibility (read live)
--   everything     a bulk change bypassed the triggers' detail (TRUNCATE, deferred maintenance): recheck all
--   shift          (shift_id and one image of it: facility_id, profession, start, "end", worker_id = its holder):
--                  a shift was inserted, changed or deleted; nothing for eligibility
--   many_shifts    a statement changed more shifts than the feed lists (or TRUNCATE, deferred): nothing for
--                  eligibility; subscribers refetch

SET LOCAL ROLE carepg_owner;

CREATE TABLE shifts_private.change_log (
    xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    kind text NOT NULL,
    worker_id integer,
    facility_id integer,
    document_ids integer[],
    logged_at timestamptz NOT NULL DEFAULT statement_timestamp(),
    previous_document_ids integer[],
    shift_id integer,
    profession public."Profession",
    start timestamp,
    "end" timestamp,
    CONSTRAINT change_log_kind_check CHECK (
        CASE kind
            WHEN 'documents' THEN worker_id IS NOT NULL AND document_ids IS NOT NULL AND facility_id IS NULL
            WHEN 'worker' THEN worker_id IS NOT NULL AND facility_id IS NULL
            WHEN 'worker_state' THEN worker_id IS NOT NULL AND facility_id IS NULL
            WHEN 'requirements' THEN facility_id IS NOT NULL AND worker_id IS NULL
                                     AND document_ids IS NOT NULL AND previous_document_ids IS NOT NULL
            WHEN 'facility' THEN facility_id IS NOT NULL AND worker_id IS NULL
            WHEN 'facility_state' THEN facility_id IS NOT NULL AND worker_id IS NULL
            WHEN 'everything' THEN worker_id IS NULL AND facility_id IS NULL
            WHEN 'shift' THEN shift_id IS NOT NULL
            WHEN 'many_shifts' THEN worker_id IS NULL AND facility_id IS NULL AND shift_id IS NULL
            ELSE false
        END)
);
COMMENT ON TABLE shifts_private.change_log IS
    'carepg: one row per worker, facility or shift a statement changed, with the writing transaction; eligibility readers recheck those live until the view includes them, and the push feed reads it.';
COMMENT ON COLUMN shifts_private.change_log.xid IS 'the transaction that made the change (visible exactly when its change is).';
COMMENT ON COLUMN shifts_private.change_log.kind IS
    'documents, worker, worker_state (a worker''s), requirements, facility, facility_state (a facility''s), shift, many_shifts or everything.';
COMMENT ON COLUMN shifts_private.change_log.worker_id IS
    'the worker whose documents or state changed; kind shift: the worker holding the shift in this image (NULL: open).';
COMMENT ON COLUMN shifts_private.change_log.document_ids IS
    'kind documents: the documents gained or lost; kind requirements: the documents the facility requires now.';
COMMENT ON COLUMN shifts_private.change_log.previous_document_ids IS
    'kind requirements: the documents the facility required before the statement.';
COMMENT ON COLUMN shifts_private.change_log.shift_id IS
    'kind shift: the shift; facility_id, profession, start, "end" and worker_id are one image of it (before or after the statement).';
COMMENT ON COLUMN shifts_private.change_log.logged_at IS 'when the statement ran; a refresh deletes folded rows older than the retention.';

-- A worker's rows since a snapshot: what a reader of that worker rechecks.
CREATE INDEX change_log_worker_xid_idx ON shifts_private.change_log (worker_id, xid) WHERE worker_id IS NOT NULL;
COMMENT ON INDEX shifts_private.change_log_worker_xid_idx IS 'carepg: a worker''s changes since a snapshot.';
-- Rows every reader must look at (facility-wide and bulk changes), since a snapshot.
CREATE INDEX change_log_broad_xid_idx ON shifts_private.change_log (xid)
    WHERE kind IN ('requirements', 'facility', 'everything');
COMMENT ON INDEX shifts_private.change_log_broad_xid_idx IS 'carepg: changes that concern every worker, since a snapshot.';
-- Every change since a snapshot (the push feed), and retention (the oldest rows go first).
CREATE INDEX change_log_xid_idx ON shifts_private.change_log (xid);
COMMENT ON INDEX shifts_private.change_log_xid_idx IS 'carepg: every change since a snapshot; pruning by age.';

RESET ROLE;
