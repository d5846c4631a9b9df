-- purpose: a marketplace closer to real life, for benchmarks: `carepg seed --profile large`.
--
-- Defines pg_temp.seed_large(shift_count, seed, reset) for this session only. The distribution (README "Seed"
-- has the same in prose) and why it keeps the eligible-pairs view a sane size:
--   50 documents: 1-5 core onboarding documents (ID, background check, TB test, CPR, I-9), 6-25 one licence
--     per state (20 states), 26-50 specialty certificates ranked by popularity (rank r = id - 25).
--   2,000 facilities, active with p = 0.95, each in a uniform state. Each requires 5-15 distinct documents
--     (uniform): 3-5 of the core ones, its state's licence, and the rest specialty certificates drawn without
--     replacement with weight r^-1.5 (popular ones are required more often).
--   100,000 workers, active with p = 0.8, professions CNA/LVN/RN with p = 0.5/0.3/0.2, a uniform home state.
--     Each holds each core document with p = 0.95, its state's licence with p = 0.98, any other state's with
--     p = 0.01, specialty certificate r with p = 0.9 r^-0.5 (about 10 documents each, 1M rows).
--   So a worker is eligible only in its own state (~100 facilities), and there only where it holds the
--     specialty certificates required: ~10 facilities on average, ~0.5% of all pairs. Eligibility follows
--     licences, as it does in real life; a uniform draw would make ~every pair eligible or none, and
--     100,000 x 2,000 = 200M pairs in the view.
--   shift_count shifts over the year around today (start day uniform over today - 182 ... today + 182 days),
--     at 07, 15 or 23 h, 8 h long; profession CNA/LVN/RN 0.5/0.3/0.2; facility uniform; deleted with
--     p = 0.05; claimed with p = 0.9 if it started before today, else p = 0.6 exp(-days ahead / 45): the near
--     future is mostly taken, the far future mostly open. A claim goes to one of 100 "regulars" (worker ids
--     1-100: ~1,000+ claims each per 1M claimed shifts... thousands at 20M) with p = 0.02, else to a uniform worker.
-- Dates follow the day it runs; everything else (ids, offsets, memberships) is reproducible from the seed:
-- every draw comes from random() after setseed(), in one backend and a serial plan.
-- The Shift table's secondary indexes are dropped for the bulk insert and rebuilt from their own definitions
-- afterwards (one sorted build each instead of 20M incremental inserts), and the foreign keys of the three
-- link tables likewise (re-adding one validates it in a single join instead of a trigger call per row: the
-- per-row checks were 31 s of a 59 s seed at 2M shifts). Names and definitions come back unchanged, in the
-- same transaction.

CREATE FUNCTION pg_temp.seed_large(shift_count integer, seed integer, reset boolean)
RETURNS TABLE (profession text, worker_id integer)
LANGUAGE plpgsql
SET max_parallel_workers_per_gather = 0
SET synchronous_commit = off
SET maintenance_work_mem = '512MB'
SET carepg.eligibility_maintenance = 'deferred'
SET search_path = pg_catalog, pg_temp
AS $seed$
DECLARE
    d0 integer;
    f0 integer;
    w0 integer;
    today constant timestamp := date_trunc('day', localtimestamp);
    idx record;
    fk record;
BEGIN
    IF shift_count IS NULL OR shift_count < 0 THEN
        RAISE EXCEPTION 'the number of shifts must be zero or more, got %', shift_count USING ERRCODE = 'CP400';
    END IF;
    IF reset THEN
        TRUNCATE public."Shift", public."DocumentWorker", public."FacilityRequirement",
                 public."Worker", public."Facility", public."Document" RESTART IDENTITY;
    ELSIF EXISTS (SELECT FROM public."Worker") OR EXISTS (SELECT FROM public."Facility")
       OR EXISTS (SELECT FROM public."Document") OR EXISTS (SELECT FROM public."Shift") THEN
        RAISE EXCEPTION 'the database already holds challenge data'
            USING ERRCODE = 'CP409', HINT = 'pass --reset to replace it, which deletes every row of the six tables';
    END IF;
    PERFORM setseed(((abs(seed::bigint) % 2000001) - 1000000) / 1000000.0);

    CREATE TEMP TABLE link_fk ON COMMIT DROP AS
    SELECT c.conrelid::regclass::text AS tab, quote_ident(c.conname) AS name, pg_get_constraintdef(c.oid) AS def
    FROM pg_constraint AS c
    WHERE c.contype = 'f'
      AND c.conrelid IN ('public."Shift"'::regclass, 'public."DocumentWorker"'::regclass,
                         'public."FacilityRequirement"'::regclass);
    FOR fk IN SELECT * FROM link_fk LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %s', fk.tab, fk.name);
    END LOOP;

    INSERT INTO public."Document" (name, is_active)
    SELECT CASE WHEN n <= 5 THEN (ARRAY['Photo ID', 'Background check', 'TB test', 'CPR', 'I-9'])[n]
                WHEN n <= 25 THEN 'State licence #' || (n - 5)
                ELSE 'Specialty certificate #' || (n - 25) END, true
    FROM generate_series(1, 50) AS n ORDER BY n;
    SELECT min(id) INTO d0 FROM public."Document";

    CREATE TEMP TABLE facility_state ON COMMIT DROP AS
    SELECT n, 1 + floor(random() * 20)::int AS state, random() < 0.95 AS active
    FROM generate_series(1, 2000) AS n;
    INSERT INTO public."Facility" (name, is_active)
    SELECT 'Facility ' || n || ' (state ' || state || ')', active FROM facility_state ORDER BY n;
    SELECT min(id) INTO f0 FROM public."Facility";

    CREATE TEMP TABLE worker_draw ON COMMIT DROP AS
    SELECT n, 1 + floor(random() * 20)::int AS state, random() < 0.8 AS active, random() AS p
    FROM generate_series(1, 100000) AS n;
    INSERT INTO public."Worker" (name, is_active, profession)
    SELECT 'Worker ' || n || ' (state ' || state || ')', active,
           (CASE WHEN p < 0.5 THEN 'CNA' WHEN p < 0.8 THEN 'LVN' ELSE 'RN' END)::public."Profession"
    FROM worker_draw ORDER BY n;
    SELECT min(id) INTO w0 FROM public."Worker";

    -- Requirements: k core documents, the state licence, and specialty ones by weighted sampling without
    -- replacement (Efraimidis-Spirakis: the smallest -ln(u)/weight keys).
    INSERT INTO public."FacilityRequirement" (facility_id, document_id)
    WITH sizes AS (
        SELECT n, state, 5 + floor(random() * 11)::int AS total, 3 + floor(random() * 3)::int AS core
        FROM facility_state ORDER BY n
    ), core AS (
        SELECT s.n, c.d, row_number() OVER (PARTITION BY s.n ORDER BY c.key) AS k, s.core
        FROM sizes AS s CROSS JOIN LATERAL (SELECT d, random() AS key FROM generate_series(1, 5) AS d) AS c
    ), specialty AS (
        SELECT s.n, c.d, row_number() OVER (PARTITION BY s.n ORDER BY c.key) AS k, s.total - s.core - 1 AS wanted
        FROM sizes AS s
        CROSS JOIN LATERAL (SELECT 25 + r AS d, -ln(1 - random()) / (r::float8 ^ -1.5) AS key
                            FROM generate_series(1, 25) AS r) AS c
    )
    SELECT f0 + n - 1, d0 + d - 1
    FROM (SELECT n, d FROM core WHERE k <= core
          UNION ALL SELECT n, 5 + state FROM sizes
          UNION ALL SELECT n, d FROM specialty WHERE k <= wanted) AS req
    ORDER BY 1, 2;

    INSERT INTO public."DocumentWorker" (worker_id, document_id)
    SELECT w0 + w.n - 1, d0 + d.d - 1
    FROM worker_draw AS w
    CROSS JOIN generate_series(1, 50) AS d (d)
    WHERE random() < CASE WHEN d.d <= 5 THEN 0.95
                          WHEN d.d <= 25 THEN CASE WHEN d.d - 5 = w.state THEN 0.98 ELSE 0.01 END
                          ELSE 0.9 * (d.d - 25)::float8 ^ -0.5 END
    ORDER BY w.n, d.d;

    -- Shifts: drop the secondary indexes, insert, rebuild them from their saved definitions.
    CREATE TEMP TABLE shift_index ON COMMIT DROP AS
    SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def,
           obj_description(i.indexrelid, 'pg_class') AS note
    FROM pg_index AS i
    WHERE i.indrelid = 'public."Shift"'::regclass AND NOT i.indisprimary;
    FOR idx IN SELECT * FROM shift_index LOOP
        EXECUTE 'DROP INDEX ' || idx.name;
    END LOOP;

    INSERT INTO public."Shift" (start, "end", profession, is_deleted, facility_id, worker_id)
    SELECT g.start, g.start + interval '8 hours', g.profession, g.is_deleted, g.facility_id,
           CASE WHEN g.u < CASE WHEN g.start < today THEN 0.9
                                ELSE 0.6 * exp(-extract(epoch FROM g.start - today) / 86400 / 45) END
                THEN CASE WHEN random() < 0.02 THEN w0 + floor(random() * 100)::int
                          ELSE w0 + floor(random() * 100000)::int END END
    FROM (
        SELECT today + (floor(random() * 365)::int - 182) * interval '1 day'
                     + (ARRAY[7, 15, 23])[1 + floor(random() * 3)::int] * interval '1 hour' AS start,
               (CASE WHEN p < 0.5 THEN 'CNA' WHEN p < 0.8 THEN 'LVN' ELSE 'RN' END)::public."Profession"
                   AS profession,
               random() < 0.05 AS is_deleted,
               f0 + floor(random() * 2000)::int AS facility_id,
               random() AS u
        FROM (SELECT random() AS p FROM generate_series(1, shift_count)) AS s
    ) AS g;

    FOR idx IN SELECT * FROM shift_index LOOP
        EXECUTE idx.def;
        IF idx.note IS NOT NULL THEN
            EXECUTE format('COMMENT ON INDEX %s IS %L', idx.name, idx.note);
        END IF;
    END LOOP;

    FOR fk IN SELECT * FROM link_fk LOOP
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %s %s', fk.tab, fk.name, fk.def);
    END LOOP;

    -- No deterministic workers here: bench/bench.py picks typical ones from the data.
    RETURN;
END
$seed$;
