-- purpose: undo 0180_relay_waits_in_database, written by `make migration`: the same objects as revision 0170 built them.

SET LOCAL ROLE carepg_owner;

DROP FUNCTION shifts.await_concerning_changes(after text, worker_ids integer[], poll interval, timeout interval);

COMMENT ON SCHEMA shifts IS $comment$carepg: open shifts. API: available_shifts(), available_shifts_json(), count_available_shifts(), available_shifts_by_day(), claim_shift(), release_shift(), claimed_shifts(), available_shift_changes(), available_shift_changes_for(), shift_changes_since(), cursor_past_unrelated_changes(), refresh_eligibility(), eligibility_status(), schedule_refresh(), unschedule_refresh(), eligible_facility_ids(), docs_ok().$comment$;

RESET ROLE;
