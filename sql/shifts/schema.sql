-- purpose: the open-shifts API schema. It holds functions (and the row type claim_shift returns) only; the data
-- behind them is in shifts_private.
-- USAGE lets a role look the functions up; which ones it may call is granted function by function.
CREATE SCHEMA shifts AUTHORIZATION carepg_owner;
COMMENT ON SCHEMA shifts IS
    'carepg: open shifts. API: available_shifts(), available_shifts_json(), count_available_shifts(), available_shifts_by_day(), claim_shift(), release_shift(), claimed_shifts(), available_shift_changes(), available_shift_changes_for(), shift_changes_since(), cursor_past_unrelated_changes(), await_concerning_changes(), refresh_eligibility(), eligibility_status(), schedule_refresh(), unschedule_refresh(), eligible_facility_ids(), docs_ok().';
GRANT USAGE ON SCHEMA shifts TO carepg_api, carepg_reader;
