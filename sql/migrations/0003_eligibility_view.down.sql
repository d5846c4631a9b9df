-- purpose: undo 0003.
DROP MATERIALIZED VIEW shifts.eligible_pair;
DROP SCHEMA shifts;
