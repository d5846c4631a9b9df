-- purpose: the private half of open shifts: the eligibility view, the change log, the lock rows and the
-- triggers' functions.
-- Nobody but carepg_owner has USAGE on it; applications call the functions in schema shifts.
CREATE SCHEMA shifts_private AUTHORIZATION carepg_owner;
COMMENT ON SCHEMA shifts_private IS
    'carepg: private objects of open shifts (eligibility view, change log, locks, maintenance); call the functions in schema shifts instead.';
