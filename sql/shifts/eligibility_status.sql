-- purpose: how far the eligibility view is behind: when it was refreshed, how many logged changes it does not
-- include yet (readers recheck those live), and whether a bulk change makes every reader compute live. For
-- operators deciding how often to refresh; owner-only, like refresh_eligibility().

SET LOCAL ROLE carepg_owner;

CREATE OR REPLACE FUNCTION shifts.eligibility_status(
    OUT refreshed_at timestamptz,
    OUT unseen_changes bigint,
    OUT live_everywhere boolean
)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT s.refreshed_at, count(c.xid), coalesce(bool_or(c.kind = 'everything'), false)
    FROM shifts_private.eligibility_state AS s
    LEFT JOIN shifts_private.change_log AS c
        ON c.xid >= pg_snapshot_xmin(s.view_snapshot) AND NOT pg_visible_in_snapshot(c.xid, s.view_snapshot)
    GROUP BY s.refreshed_at;
END;
COMMENT ON FUNCTION shifts.eligibility_status() IS
$comment$How far shifts_private.eligible_pair is behind: when it was last refreshed, how many logged changes it does not include (readers recheck those live), and whether a bulk change (TRUNCATE, deferred maintenance) makes every reader compute live until the next refresh.$comment$;

RESET ROLE;
