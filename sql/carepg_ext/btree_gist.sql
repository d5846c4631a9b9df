-- purpose: extensions carepg needs, in a schema of their own.
--
-- btree_gist lets one GiST index hold a worker id (equality) and a time range (overlap): the overlap rule's
-- index on public."Shift". Its ~200 functions get their own schema, so neither the application's public schema
-- nor carepg's API schema fills with them. A btree_gist the database already had is used where it is.
CREATE SCHEMA IF NOT EXISTS carepg_ext;
COMMENT ON SCHEMA carepg_ext IS 'carepg: extensions carepg installed (btree_gist).';
CREATE EXTENSION IF NOT EXISTS btree_gist SCHEMA carepg_ext;
