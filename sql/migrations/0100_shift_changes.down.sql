-- purpose: undo 0100: no triggers on "Shift", no change feed; the change log as 0090 left it.

DROP TRIGGER carepg_shift_truncate ON public."Shift";
DROP TRIGGER carepg_shift_delete ON public."Shift";
DROP TRIGGER carepg_shift_update ON public."Shift";
DROP TRIGGER carepg_shift_insert ON public."Shift";

SET LOCAL ROLE carepg_owner;

DROP FUNCTION shifts.available_shift_changes(integer, text, timestamp, timestamp);
DROP FUNCTION shifts.available_shift_changes_for(integer[], timestamp[], timestamp[], text);
DROP FUNCTION shifts.shift_changes_since(text);
DROP FUNCTION shifts_private.parse_change_cursor(text);
DROP FUNCTION shifts_private.change_cursor(pg_snapshot);
DROP FUNCTION shifts_private.on_shift_change();
DELETE FROM shifts_private.change_log WHERE kind IN ('shift', 'many_shifts');
ALTER TABLE shifts_private.change_log
    DROP CONSTRAINT change_log_kind_check,
    DROP COLUMN previous_document_ids,
    DROP COLUMN shift_id,
    DROP COLUMN profession,
    DROP COLUMN start,
    DROP COLUMN "end",
    ADD CONSTRAINT change_log_kind_check CHECK (
        CASE kind
            WHEN 'documents' THEN worker_id IS NOT NULL AND document_ids IS NOT NULL AND facility_id IS NULL
            WHEN 'worker' THEN worker_id IS NOT NULL AND facility_id IS NULL
            WHEN 'worker_state' THEN worker_id IS NOT NULL AND facility_id IS NULL
            WHEN 'requirements' THEN facility_id IS NOT NULL AND worker_id IS NULL
            WHEN 'facility' THEN facility_id IS NOT NULL AND worker_id IS NULL
            WHEN 'facility_state' THEN facility_id IS NOT NULL AND worker_id IS NULL
            WHEN 'everything' THEN worker_id IS NULL AND facility_id IS NULL
            ELSE false
        END);
COMMENT ON TABLE shifts_private.change_log IS
    'carepg: one row per worker or facility whose eligibility a statement may have changed, with the writing transaction; readers recheck those live until the view includes them.';
COMMENT ON COLUMN shifts_private.change_log.xid IS 'the transaction that made the change (visible exactly when its change is).';
COMMENT ON COLUMN shifts_private.change_log.kind IS
    'documents, worker, worker_state (a worker''s), requirements, facility, facility_state (a facility''s), or everything.';
COMMENT ON COLUMN shifts_private.change_log.document_ids IS 'kind documents: the documents gained or lost.';
COMMENT ON COLUMN shifts_private.change_log.logged_at IS 'when the statement ran; a refresh deletes folded rows older than the retention.';
COMMENT ON COLUMN shifts_private.change_log.worker_id IS NULL;
COMMENT ON INDEX shifts_private.change_log_xid_idx IS 'carepg: every change since a snapshot; pruning by age.';

-- Facilities' requirements changed: lock each facility, log it.
CREATE OR REPLACE FUNCTION shifts_private.on_facility_requirement_change()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    changed_f integer[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(n.facility_id) INTO changed_f FROM new_rows AS n;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(o.facility_id) INTO changed_f FROM old_rows AS o;
    ELSE
        SELECT array_agg(c.f) INTO changed_f
        FROM (SELECT n.facility_id FROM new_rows AS n UNION ALL SELECT o.facility_id FROM old_rows AS o) AS c (f);
    END IF;
    IF changed_f IS NULL THEN
        RETURN NULL;
    END IF;
    IF shifts_private.maintenance_deferred() THEN
        PERFORM shifts_private.log_everything();
        RETURN NULL;
    END IF;
    PERFORM shifts_private.lock_facilities(changed_f);
    INSERT INTO shifts_private.change_log (kind, facility_id)
    SELECT DISTINCT 'requirements', f.id FROM unnest(changed_f) AS f (id) WHERE f.id IS NOT NULL ORDER BY 2;
    RETURN NULL;
END
$function$;
COMMENT ON FUNCTION shifts_private.on_facility_requirement_change() IS
    'carepg internal: after FacilityRequirement changes, lock each changed facility and log that its requirements changed.';

COMMENT ON SCHEMA shifts IS
    'carepg: open shifts. API: available_shifts(), available_shifts_json(), count_available_shifts(), available_shifts_by_day(), claim_shift(), release_shift(), claimed_shifts(), refresh_eligibility(), eligibility_status(), schedule_refresh(), unschedule_refresh(), eligible_facility_ids(), docs_ok().';

RESET ROLE;
