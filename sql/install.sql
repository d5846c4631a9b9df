-- purpose: carepg as it is now, installed from the files that define it, in dependency order.
--
-- Each file below holds the current definition of its objects (grants and comments included) and is edited by
-- hand; sql/migrations/ holds the frozen history that brings an existing database to the same state, and a test
-- proves both give the same database. `carepg migrate` is how a database is installed or upgraded; this file
-- is for reading (and for that test). With psql, on an empty database:
--   psql -v ON_ERROR_STOP=1 --single-transaction -f sql/install.sql
-- Files that create carepg_owner's objects say so (SET LOCAL ROLE carepg_owner); the rest run as the
-- migrating role: roles, the application's tables and what carepg adds to them (indexes, triggers, grants).

\ir roles.sql
\ir public/challenge_tables.sql
\ir public/grants.sql
\ir carepg_ext/btree_gist.sql
\ir public/indexes.sql

\ir shifts_private/schema.sql
\ir shifts/schema.sql
\ir shifts_private/change_log.sql
\ir shifts_private/eligibility_state.sql
\ir shifts_private/locks.sql
\ir shifts_private/eligible_pair.sql
\ir shifts_private/acting_identity.sql
\ir shifts/docs_ok.sql
\ir shifts_private/eligibility_triggers.sql
\ir shifts_private/shift_triggers.sql
\ir shifts/eligible_facility_ids.sql
\ir shifts/available_shifts.sql
\ir shifts/available_shifts_json.sql
\ir shifts/count_available_shifts.sql
\ir shifts/available_shifts_by_day.sql
\ir shifts/claim_shift.sql
\ir shifts/release_shift.sql
\ir shifts/claimed_shifts.sql
\ir shifts/available_shift_changes.sql
\ir shifts/refresh_eligibility.sql
\ir shifts/eligibility_status.sql
\ir shifts/refresh_schedule.sql
\ir public/eligibility_triggers.sql
\ir public/shift_triggers.sql

\ir mrf_private/schema.sql
\ir mrf/schema.sql
\ir mrf/reference.sql
\ir mrf_private/runs.sql
\ir mrf_private/run_data.sql
\ir mrf_private/lookup_entry.sql
\ir mrf/classification.sql
\ir mrf/file_class.sql
\ir mrf/network_files.sql
\ir mrf/runs.sql
\ir mrf/ingest.sql
