-- purpose: every query the Python shell runs for the price-transparency index (`carepg mrf ...`), by name.
-- Parameters are bound by psycopg (never pasted into the text); casts make the function signatures explicit.

-- name: start_ingest
-- Record a run on the bookkeeping connection, outside the loading transaction; the function also takes the
-- run's lock, held by this session while the run lives (mrf.runs reports a run without it as abandoned), and makes
-- the run's partition of mrf_private.plan_entry, whose name comes back with the run id: where its entries go.
SELECT r.run_id, mrf.plan_entry_table(r.run_id)
FROM mrf.start_ingest(source => %(source)s::text, size_bytes => %(size_bytes)s::bigint) AS r(run_id)

-- name: hold_run_lock
-- Take the run's lock again on a new bookkeeping session (the previous one was lost).
SELECT mrf.hold_run_lock(run_id => %(run_id)s::bigint)

-- name: fail_ingest
-- Record why a run failed, after its loading transaction rolled back.
SELECT mrf.fail_ingest(run_id => %(run_id)s::bigint, error => %(error)s::text,
                       bytes_read => %(bytes_read)s::bigint, raw_bytes => %(raw_bytes)s::bigint)

-- name: copy_plan_entry
-- One row per reporting_plans entry, while the index streams, into {table}: the name start_ingest returned
-- (straight into the run's partition, so the load holds no lock on the parent table); mrf.finish_ingest counts
-- and classifies them.
COPY {table} (run_id, set_id, plan_key, plan_name, plan_id_type, plan_id, plan_market_type, issuer_name,
              plan_sponsor_name) FROM STDIN

-- name: copy_file
COPY mrf_private.file (run_id, file_id, file_key, url, variants, descriptions, in_network, allowed_amount) FROM STDIN

-- name: copy_file_set
COPY mrf_private.file_set (run_id, set_id, file_ids, structures) FROM STDIN

-- name: finish_ingest
-- Publish the run: last statement of the loading transaction.
SELECT plans, distinct_files, distinct_sets, replaced_run_id
FROM mrf.finish_ingest(
    run_id => %(run_id)s::bigint,
    entity_name => %(entity_name)s::text,
    entity_type => %(entity_type)s::text,
    version => %(version)s::text,
    last_updated_on => %(last_updated_on)s::text,
    parser => %(parser)s::text,
    bytes_read => %(bytes_read)s::bigint,
    raw_bytes => %(raw_bytes)s::bigint,
    structures => %(structures)s::bigint,
    plan_links => %(plan_links)s::bigint,
    file_links => %(file_links)s::bigint,
    distinct_plans => %(distinct_plans)s::bigint,
    product_set_ids => %(product_set_ids)s::integer[],
    products => %(products)s::text[],
    product_entries => %(product_entries)s::bigint[],
    product_examples => %(product_examples)s::text[])

-- name: network_files
-- The answer: one row per distinct file, sorted by URL.
SELECT url, file_key, entity_name, file_issuer, plan_types
FROM mrf.network_files(state => %(state)s::text, plan_type => %(plan_type)s::text, issuer => %(issuer)s::text)

-- name: load_lookup
-- Entries of one EIN-lookup document ({file_key, display_name, category, url} objects).
SELECT mrf.load_lookup(source => %(source)s::text, entries => %(entries)s::jsonb)

-- name: runs
-- The most recent ingest runs, newest first ('abandoned': recorded as running, but its process is gone).
SELECT run_id, source, status, entity_name, parser, started_at, finished_at, bytes_read, raw_bytes, structures,
       plans, distinct_files, error
FROM mrf.runs(max_rows => %(limit)s::integer)
