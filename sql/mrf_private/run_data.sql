-- purpose: what one ingest run loaded: distinct files, distinct file lists, and its plan entries.
--
-- Tens of millions of (plan, file) links are stored as distinct file sets: a reporting structure's file list
-- becomes one file_set row (an int[] of file ids) shared by every structure that lists the same files.

SET LOCAL ROLE carepg_owner;

CREATE TABLE mrf_private.file (
    run_id bigint NOT NULL REFERENCES mrf_private.ingest_run (run_id),
    file_id integer NOT NULL,
    file_key text NOT NULL,
    url text NOT NULL,
    variants integer NOT NULL CHECK (variants >= 1),
    descriptions text[] NOT NULL,
    in_network boolean NOT NULL,
    allowed_amount boolean NOT NULL,
    PRIMARY KEY (run_id, file_id),
    UNIQUE (run_id, file_key)
);
COMMENT ON TABLE mrf_private.file IS
    'carepg: distinct files of a run. file_key = the URL path without host and query string (the same file is served from many brand hosts with different signatures).';
COMMENT ON COLUMN mrf_private.file.url IS 'The first full URL seen for the file: the one handed out.';
COMMENT ON COLUMN mrf_private.file.variants IS 'Distinct full URLs (hosts, signatures) seen for this file_key.';
COMMENT ON COLUMN mrf_private.file.descriptions IS 'Distinct descriptions the TOC gives the file, in order of appearance.';

CREATE TABLE mrf_private.file_set (
    run_id bigint NOT NULL REFERENCES mrf_private.ingest_run (run_id),
    set_id integer NOT NULL,
    file_ids integer[] NOT NULL,
    structures bigint NOT NULL,
    PRIMARY KEY (run_id, set_id)
);
COMMENT ON TABLE mrf_private.file_set IS
    'carepg: distinct file lists (sorted file ids) of a run; structures = reporting_structure elements listing exactly these files.';

-- One row per reporting_plans entry, COPYed in while the index streams. Each run's rows are a partition of their
-- own, mrf_private.plan_entry_<run id> (mrf_private.add_entry_partition, called by mrf.start_ingest): the ingest
-- COPYs into a table that holds nothing else (no free space to search among a replaced run's dead rows, no index
-- to maintain), and a run that is replaced or fails goes as a table (mrf.drop_stale_entries) instead of being
-- deleted row by row, leaving nothing for VACUUM. No index: a run's rows are its partition.
CREATE TABLE mrf_private.plan_entry (
    run_id bigint NOT NULL,
    set_id integer NOT NULL,
    plan_key bigint NOT NULL,
    plan_name text NOT NULL,
    plan_id_type text,
    plan_id text,
    plan_market_type text,
    issuer_name text,
    plan_sponsor_name text
) PARTITION BY LIST (run_id);
COMMENT ON TABLE mrf_private.plan_entry IS
    'carepg: the reporting_plans entries of a run, one row each, as the index lists them (enums lower-cased; v2 fields issuer_name, plan_sponsor_name may be NULL), with the file set of their structure. One partition per run, mrf_private.plan_entry_<run id>.';
COMMENT ON COLUMN mrf_private.plan_entry.plan_key IS
    'Identifies the plan within its run: a 64-bit hash the ingest computes over the six fields (one bigint to group on instead of six texts).';

CREATE VIEW mrf_private.plan AS
SELECT DISTINCT ON (e.run_id, e.plan_key)
       e.run_id, e.plan_key, e.plan_name, e.plan_id_type, e.plan_id, e.plan_market_type, e.issuer_name,
       e.plan_sponsor_name
FROM mrf_private.plan_entry e
ORDER BY e.run_id, e.plan_key;
COMMENT ON VIEW mrf_private.plan IS 'carepg: the distinct plans of each run.';

CREATE VIEW mrf_private.plan_file_set AS
SELECT DISTINCT e.run_id, e.plan_key, e.set_id
FROM mrf_private.plan_entry e;
COMMENT ON VIEW mrf_private.plan_file_set IS 'carepg: which file sets each plan is reported with (the compact plan<->file links).';

CREATE TABLE mrf_private.file_plan_type (
    run_id bigint NOT NULL,
    file_id integer NOT NULL,
    plan_type text NOT NULL,
    plans bigint NOT NULL,
    example_plan text NOT NULL,
    PRIMARY KEY (run_id, file_id, plan_type),
    FOREIGN KEY (run_id, file_id) REFERENCES mrf_private.file (run_id, file_id)
);
COMMENT ON TABLE mrf_private.file_plan_type IS
    'carepg: plan-type evidence from plan names, computed when a run finishes: how many reporting_plans entries naming the type sit in structures listing the file, and one such plan.';

RESET ROLE;
