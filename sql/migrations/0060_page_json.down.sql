-- purpose: undo 0060_page_json: drop shifts.available_shifts_json(); the schema comment as 0040 left it.

SET LOCAL ROLE carepg_owner;

DROP FUNCTION shifts.available_shifts_json(integer, timestamp, timestamp, timestamp, integer, integer);

COMMENT ON SCHEMA shifts IS
    'carepg: open shifts. API: available_shifts(), count_available_shifts(), available_shifts_by_day(), claim_shift(), release_shift(), claimed_shifts(), refresh_eligibility(), schedule_refresh(), unschedule_refresh(), eligible_facility_ids(), docs_ok().';

RESET ROLE;
