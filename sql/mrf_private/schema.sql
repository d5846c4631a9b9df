-- purpose: the private half of the price-transparency index: ingest runs and the data each run loaded.
-- Nobody but carepg_owner has USAGE on it; readers use mrf.network_files() and the view mrf.file_class.
CREATE SCHEMA mrf_private AUTHORIZATION carepg_owner;
COMMENT ON SCHEMA mrf_private IS
    'carepg: private objects of the price-transparency index (runs, files, file sets, plans, lookup entries); read them through schema mrf.';
