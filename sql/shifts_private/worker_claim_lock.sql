-- purpose: one row per worker that has claimed or released through carepg; the first lock the write path takes.
--
-- shifts.claim_shift() and shifts.release_shift() upsert the worker's row before anything else, so one worker's
-- claims and releases go one at a time (two phones cannot book two overlapping shifts at once) while other
-- workers' claims go on in parallel. A row, not an advisory lock: under REPEATABLE READ or SERIALIZABLE a claim
-- whose snapshot predates another claim of the same worker would not see that claim, and an advisory lock would
-- let it book an overlapping shift; updating a row that changed since the snapshot is a serialization failure
-- (40001) instead. Rows of deleted workers are harmless (nothing reads them but the lock).

SET LOCAL ROLE carepg_owner;

CREATE TABLE shifts_private.worker_claim_lock (
    worker_id integer PRIMARY KEY,
    writes bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE shifts_private.worker_claim_lock IS
    'carepg: one row per worker that claimed or released through shifts.claim_shift()/release_shift(); updating it serialises that worker''s claims.';
COMMENT ON COLUMN shifts_private.worker_claim_lock.writes IS 'claims and releases of this worker after the first.';

RESET ROLE;
