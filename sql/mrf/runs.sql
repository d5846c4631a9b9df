-- purpose: which ingest runs are alive, and the list `carepg mrf runs` prints (carepg_owner's members only).
--
-- A run is recorded by mrf.start_ingest on the ingest's bookkeeping session, which in the same transaction takes
-- the run's lock: a session advisory lock, so whoever sees the run 'running' also sees its lock, and the lock
-- lives exactly as long as that session. An ingest that ends normally records its end (finish_ingest or
-- fail_ingest); one killed outright (SIGKILL, a machine gone) cannot, but its session ends and takes the lock
-- with it. mrf.runs() tells the two apart: a 'running' run whose lock nobody holds is 'abandoned'.

SET LOCAL ROLE carepg_owner;

CREATE OR REPLACE FUNCTION mrf.run_lock_key(run_id bigint, OUT class integer, OUT key integer)
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    -- class: 'mrf\0' read as a big-endian int4; key: the run id, wrapped into int4's non-negative range
    SELECT 1836213760, mod(run_lock_key.run_id, 2147483648)::integer
$function$;
COMMENT ON FUNCTION mrf.run_lock_key(bigint) IS
    'The two-int4 advisory lock key of an ingest run (class 1836213760 = ''mrf\0'', key = run id mod 2^31): the one definition mrf.hold_run_lock and mrf.run_lock_held share.';

CREATE OR REPLACE FUNCTION mrf.hold_run_lock(run_id bigint)
RETURNS boolean
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT pg_try_advisory_lock(k.class, k.key) FROM mrf.run_lock_key(hold_run_lock.run_id) AS k
$function$;
COMMENT ON FUNCTION mrf.hold_run_lock(bigint) IS
    'Take an ingest run''s lock for this session, until the session ends: the sign that the run''s process is alive (see mrf.runs). mrf.start_ingest takes it; call this on a session that replaces a lost one. False when another session holds it.';

CREATE OR REPLACE FUNCTION mrf.run_lock_held(run_id bigint)
RETURNS boolean
LANGUAGE sql
VOLATILE  -- reads pg_locks, which changes while a statement runs
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT EXISTS (
        SELECT FROM pg_locks AS l, mrf.run_lock_key(run_lock_held.run_id) AS k
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
          AND l.database = (SELECT d.oid FROM pg_database AS d WHERE d.datname = current_database())
          AND l.classid = k.class::oid AND l.objid = k.key::oid)
$function$;
COMMENT ON FUNCTION mrf.run_lock_held(bigint) IS
    'Does some session hold this ingest run''s lock (its process is alive)? A ''running'' run without it is abandoned.';

CREATE OR REPLACE FUNCTION mrf.runs(max_rows integer DEFAULT 10)
RETURNS TABLE (
    run_id bigint,
    source text,
    status text,
    entity_name text,
    parser text,
    started_at timestamptz,
    finished_at timestamptz,
    size_bytes bigint,
    bytes_read bigint,
    raw_bytes bigint,
    structures bigint,
    plans bigint,
    distinct_files integer,
    error text
)
LANGUAGE plpgsql
VOLATILE  -- reads pg_locks, which changes while a statement runs
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF max_rows IS NULL OR max_rows < 1 OR max_rows > 1000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 1000, got %', coalesce(max_rows::text, 'NULL')
            USING ERRCODE = 'CP400';
    END IF;
    RETURN QUERY
    SELECT r.run_id, r.source,
           CASE WHEN r.status = 'running' AND NOT mrf.run_lock_held(r.run_id) THEN 'abandoned' ELSE r.status END,
           r.entity_name, r.parser, r.started_at, r.finished_at, r.size_bytes, r.bytes_read, r.raw_bytes,
           r.structures, r.plans, r.distinct_files, r.error
    FROM mrf_private.ingest_run AS r
    ORDER BY r.run_id DESC
    LIMIT max_rows;
END
$function$;
COMMENT ON FUNCTION mrf.runs(integer) IS
    'The most recent ingest runs, newest first, with their status: running, succeeded, failed (error says why) or abandoned (recorded as running, but no session holds its lock: its process died without recording an end). CP400 when max_rows is outside 1..1000.';

RESET ROLE;
