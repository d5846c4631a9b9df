-- purpose: the price-transparency index's public schema: the answer (network_files), the evidence behind it
-- (the view file_class), the classification rules and reference tables it uses, and the ingest's bookkeeping
-- functions (owner only). Run data lives in mrf_private.
--
-- One ingest run loads one payer's table of contents (TOC). Everything a run loads is keyed by run_id and
-- becomes visible in one commit (mrf.finish_ingest), which also points the payer at the new run and deletes the
-- previous run's rows: readers see the old index or the new one, never a mix. A failed run is recorded by
-- mrf.fail_ingest on another connection after the loading transaction rolled back, so nothing partial is seen.
--
-- Errors use carepg's SQLSTATEs (class CP):
--   CP400  an argument is invalid (unknown plan type, malformed state code)
--   CP404  nothing to answer from (no table of contents ingested; unknown run)
--   CP409  the run is not in a state that allows this (finishing a run twice)
CREATE SCHEMA mrf AUTHORIZATION carepg_owner;
COMMENT ON SCHEMA mrf IS
    'carepg: price-transparency index. API: network_files(), the file_class view; ingest bookkeeping functions for carepg_owner''s members.';
GRANT USAGE ON SCHEMA mrf TO carepg_reader;
