-- purpose: ingest bookkeeping: one row per `carepg mrf ingest`, and the payers with the run that is live for each.

SET LOCAL ROLE carepg_owner;

CREATE TABLE mrf_private.ingest_run (
    run_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source text NOT NULL,
    size_bytes bigint,
    bytes_read bigint NOT NULL DEFAULT 0,
    raw_bytes bigint NOT NULL DEFAULT 0,
    started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz,
    status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
    error text,
    entity_name text,
    parser text,
    structures bigint,
    plan_links bigint,
    plans bigint,
    file_links bigint,
    distinct_files integer,
    distinct_sets integer,
    CHECK ((status = 'running') = (finished_at IS NULL)),
    CHECK ((status = 'failed') = (error IS NOT NULL))
);
COMMENT ON TABLE mrf_private.ingest_run IS
    'carepg: one row per `carepg mrf ingest`: source, sizes, timing, status and counts; failed runs keep their error.';
COMMENT ON COLUMN mrf_private.ingest_run.bytes_read IS 'Bytes read from the source (compressed bytes for .gz).';
COMMENT ON COLUMN mrf_private.ingest_run.raw_bytes IS 'Bytes of JSON text after decompression.';
COMMENT ON COLUMN mrf_private.ingest_run.parser IS 'line: the one-structure-per-line fast path held throughout; ijson: the general parser took over.';
COMMENT ON COLUMN mrf_private.ingest_run.plan_links IS 'reporting_plans entries read (before de-duplication).';
COMMENT ON COLUMN mrf_private.ingest_run.file_links IS 'in_network_files / allowed_amount_file entries read (before de-duplication).';

CREATE TABLE mrf_private.reporting_entity (
    entity_id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE,
    entity_type text,
    version text,
    last_updated_on text,
    current_run_id bigint NOT NULL UNIQUE REFERENCES mrf_private.ingest_run (run_id)
);
COMMENT ON TABLE mrf_private.reporting_entity IS
    'carepg: a payer (reporting_entity_name) and the run whose data is live for it; re-ingesting swaps current_run_id.';

RESET ROLE;
