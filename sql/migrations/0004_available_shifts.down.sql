-- purpose: undo 0004.
DROP FUNCTION shifts.refresh_eligibility(boolean);
DROP FUNCTION shifts.count_available_shifts(integer, timestamp, timestamp);
DROP FUNCTION shifts.available_shifts(integer, timestamp, timestamp, timestamp, integer, integer);
