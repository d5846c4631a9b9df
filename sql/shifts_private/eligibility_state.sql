-- purpose: where the view stands: the snapshot shifts_private.eligible_pair was computed from, so readers know
-- which rows of shifts_private.change_log it already includes. Written by refreshes only.
--
-- Readers (shifts.eligible_facility_ids) take the view for a worker, except for the pairs that unseen changes may
-- have changed, which they compute from the live tables; the active flags and professions are always read live.
-- A refresh notes a snapshot before it recomputes the view (the recomputation takes a later one, so it includes
-- everything the noted snapshot does) and stores it here when it commits: a change committed during the refresh
-- stays unseen and keeps being rechecked. Writers never touch this row, so they never wait for a refresh, nor a
-- refresh for them.

SET LOCAL ROLE carepg_owner;

CREATE TABLE shifts_private.eligibility_state (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    -- Until the first refresh, every logged change counts as unseen (the view was built when carepg was installed).
    view_snapshot pg_snapshot NOT NULL DEFAULT '1:1:',
    refreshed_at timestamptz,
    pruned_below xid8 NOT NULL DEFAULT '0'
);
COMMENT ON TABLE shifts_private.eligibility_state IS
    'carepg: one row: the snapshot shifts_private.eligible_pair was computed from (changes it does not include are rechecked live).';
COMMENT ON COLUMN shifts_private.eligibility_state.view_snapshot IS
    'the snapshot the last refresh noted before recomputing the view; change_log rows invisible to it are unseen.';
COMMENT ON COLUMN shifts_private.eligibility_state.refreshed_at IS 'when the last refresh ran (NULL: never since carepg was installed).';
COMMENT ON COLUMN shifts_private.eligibility_state.pruned_below IS
    'change_log rows of transactions below this xid may have been deleted (all were folded into the view and past the retention).';
INSERT INTO shifts_private.eligibility_state DEFAULT VALUES;

-- The current snapshot, with this transaction's own xid counted as in progress. A snapshot never lists its own
-- transaction, so pg_visible_in_snapshot() would call this transaction's later changes visible: a refresh (or a
-- migration) that writes changes after noting its snapshot must still see them as unseen.
CREATE OR REPLACE FUNCTION shifts_private.snapshot_excluding_self()
RETURNS pg_snapshot
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    now_seen constant pg_snapshot := pg_current_snapshot();
    me constant xid8 := pg_current_xact_id_if_assigned();
BEGIN
    IF me IS NULL OR me >= pg_snapshot_xmax(now_seen) THEN
        RETURN now_seen;  -- no xid yet, or one the snapshot already counts as not yet visible
    END IF;
    RETURN format('%s:%s:%s', pg_snapshot_xmin(now_seen), pg_snapshot_xmax(now_seen),
                  (SELECT string_agg(x::text, ',' ORDER BY x)
                   FROM (SELECT pg_snapshot_xip(now_seen) UNION SELECT me) AS u (x)))::pg_snapshot;
END
$function$;
COMMENT ON FUNCTION shifts_private.snapshot_excluding_self() IS
    'carepg internal: pg_current_snapshot() with the current transaction (if it has an xid) counted as in progress.';

RESET ROLE;
