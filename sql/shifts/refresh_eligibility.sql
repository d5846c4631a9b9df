-- purpose: housekeeping: fold recent eligibility changes into shifts_private.eligible_pair, so readers stop
-- rechecking them, and drop the change log's old rows. Answers are exact with or without it.
--
-- Run by carepg_owner's members (the CLI, a pg_cron job they schedule); not granted to the API or reader roles:
-- it writes, and a refresh costs seconds at scale. It waits for no writer and no writer waits for it (writers
-- never touch shifts_private.eligibility_state); concurrent refreshes take turns on the view.

SET LOCAL ROLE carepg_owner;

CREATE OR REPLACE FUNCTION shifts.refresh_eligibility(concurrent boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    -- Everything this snapshot sees, the recomputed view will see too (it takes a later snapshot). This
    -- transaction's own changes count as unseen: those made after this point are not in the view.
    seen constant pg_snapshot := shifts_private.snapshot_excluding_self();
    -- The change log keeps rows this long after the view includes them (for subscribers catching up).
    retention constant interval := '15 minutes';
    prune_below xid8;
BEGIN
    IF concurrent THEN
        REFRESH MATERIALIZED VIEW CONCURRENTLY shifts_private.eligible_pair;  -- readers keep reading meanwhile
    ELSE
        REFRESH MATERIALIZED VIEW shifts_private.eligible_pair;
    END IF;
    -- Rows below both the view's horizon (all folded) and the oldest row still within the retention may go.
    -- (The oldest rows come first in xid order, so the scan reads about as many rows as it lets go.)
    SELECT c.xid INTO prune_below
    FROM shifts_private.change_log AS c
    WHERE c.logged_at > statement_timestamp() - retention
    ORDER BY c.xid
    LIMIT 1;
    prune_below := least(prune_below, pg_snapshot_xmin(seen));
    UPDATE shifts_private.eligibility_state AS s
    SET view_snapshot = seen, refreshed_at = clock_timestamp(), pruned_below = greatest(s.pruned_below, prune_below);
    DELETE FROM shifts_private.change_log AS c WHERE c.xid < prune_below;
END
$function$;
COMMENT ON FUNCTION shifts.refresh_eligibility(boolean) IS
$comment$Recompute shifts_private.eligible_pair from the live tables, so readers stop rechecking the changes it now includes, and delete change-log rows it includes that are older than 15 minutes.
Answers are exact with or without refreshes; refreshing keeps reads at one index scan of the view. CONCURRENTLY (the default) never blocks readers; pass false for a faster refresh that locks readers out while it runs.$comment$;

RESET ROLE;
