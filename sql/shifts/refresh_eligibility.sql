-- purpose: housekeeping: fold recent eligibility changes into shifts_private.eligible_pair and drop the
-- patches the new view includes. Answers are exact with or without it.
--
-- Run by carepg_owner's members (the CLI, a pg_cron job they schedule); not granted to the API or reader roles:
-- it writes, and a refresh costs seconds at scale.

SET LOCAL ROLE carepg_owner;

CREATE OR REPLACE FUNCTION shifts.refresh_eligibility(concurrent boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    seen pg_snapshot;
    me xid8;
BEGIN
    -- Everything this snapshot sees, the recomputed view will see too (it takes a later snapshot).
    seen := pg_current_snapshot();
    me := pg_current_xact_id_if_assigned();
    IF concurrent THEN
        REFRESH MATERIALIZED VIEW CONCURRENTLY shifts_private.eligible_pair;  -- readers keep reading meanwhile
    ELSE
        REFRESH MATERIALIZED VIEW shifts_private.eligible_pair;
    END IF;
    -- State row before patch rows: the order writers lock them in, so the two never deadlock.
    UPDATE shifts_private.eligibility_state AS s SET stale_by = NULL
    WHERE s.stale_by IS NOT NULL AND (pg_visible_in_snapshot(s.stale_by, seen) OR s.stale_by = me);
    DELETE FROM shifts_private.eligibility_patch AS p
    WHERE pg_visible_in_snapshot(p.patched_by, seen) OR p.patched_by = me;
END
$function$;
COMMENT ON FUNCTION shifts.refresh_eligibility(boolean) IS
$comment$Recompute shifts_private.eligible_pair from the live tables and drop the patches it now includes.
Answers are exact with or without refreshes; refreshing keeps the patch table small. CONCURRENTLY (the default) never blocks readers; pass false for a faster refresh that locks readers out while it runs.$comment$;

RESET ROLE;
