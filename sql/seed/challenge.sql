-- purpose: the challenge seed, regenerated inside Postgres with the same distribution as its seed.ts.
--
-- Defines pg_temp.seed_challenge(shift_count, seed, reset) for this session only (nothing is left in the
-- database's schema). See README "Seed" for the distribution; in short:
--   10 documents, 10 facilities, 100 workers: is_active with p = 0.5, professions uniform;
--   2,000 FacilityRequirement and 500 DocumentWorker rows drawn uniformly *with replacement* (duplicates);
--   shift_count shifts: start day uniform over 2023-02-01 + 0..30 days (Feb 29-31 of seed.ts roll into
--   March 1-3), hour 05/13/20, a stray millisecond 0..999, end = start + 5 h, profession uniform,
--   is_deleted p = 0.5, facility uniform, claimed by a uniform random worker with p = 0.5;
--   then three active "Deterministic #n" workers (CNA, LVN, RN) holding every document, returned.
-- Every draw comes from random() after setseed(), in one backend and a serial plan, so a seed reproduces.

CREATE FUNCTION pg_temp.seed_challenge(shift_count integer, seed integer, reset boolean)
RETURNS TABLE (profession text, worker_id integer)
LANGUAGE plpgsql
-- Parallel workers would draw from their own random() state and break reproducibility.
SET max_parallel_workers_per_gather = 0
SET synchronous_commit = off
-- Row-by-row eligibility maintenance is pointless for a bulk load: the caller refreshes afterwards.
SET carepg.eligibility_maintenance = 'deferred'
SET search_path = pg_catalog, pg_temp
AS $seed$
DECLARE
    document_ids integer[];
    facility_ids integer[];
    worker_ids integer[];
    professions constant text[] := ARRAY['CNA', 'LVN', 'RN'];
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

    -- setseed() takes [-1, 1]; map any integer into it.
    PERFORM setseed(((abs(seed::bigint) % 2000001) - 1000000) / 1000000.0);

    INSERT INTO public."Document" (name, is_active)
    SELECT substr(md5(random()::text) || md5(random()::text), 1, 40), random() < 0.5
    FROM generate_series(1, 10);
    INSERT INTO public."Facility" (name, is_active)
    SELECT substr(md5(random()::text) || md5(random()::text), 1, 40), random() < 0.5
    FROM generate_series(1, 10);
    INSERT INTO public."Worker" (name, is_active, profession)
    SELECT substr(md5(random()::text) || md5(random()::text), 1, 40), random() < 0.5,
           professions[1 + floor(random() * 3)::int]::public."Profession"
    FROM generate_series(1, 100);

    SELECT array_agg(id ORDER BY id) INTO document_ids FROM public."Document";
    SELECT array_agg(id ORDER BY id) INTO facility_ids FROM public."Facility";
    SELECT array_agg(id ORDER BY id) INTO worker_ids FROM public."Worker";

    INSERT INTO public."FacilityRequirement" (facility_id, document_id)
    SELECT facility_ids[1 + floor(random() * 10)::int], document_ids[1 + floor(random() * 10)::int]
    FROM generate_series(1, 2000);
    INSERT INTO public."DocumentWorker" (worker_id, document_id)
    SELECT worker_ids[1 + floor(random() * 100)::int], document_ids[1 + floor(random() * 10)::int]
    FROM generate_series(1, 500);

    INSERT INTO public."Shift" (start, "end", profession, is_deleted, facility_id, worker_id)
    SELECT g.start, g.start + interval '5 hours', g.profession, g.is_deleted, g.facility_id, g.worker_id
    FROM (
        SELECT timestamp '2023-02-01'
                   + floor(random() * 31)::int * interval '1 day'
                   + (ARRAY[5, 13, 20])[1 + floor(random() * 3)::int] * interval '1 hour'
                   + floor(random() * 1000)::int * interval '1 millisecond' AS start,
               professions[1 + floor(random() * 3)::int]::public."Profession" AS profession,
               random() < 0.5 AS is_deleted,
               facility_ids[1 + floor(random() * 10)::int] AS facility_id,
               CASE WHEN random() < 0.5 THEN NULL ELSE worker_ids[1 + floor(random() * 100)::int] END AS worker_id
        FROM generate_series(1, shift_count)
    ) AS g;

    -- The deterministic workers: active, one per profession, holding every document (active or not).
    RETURN QUERY
    WITH deterministic AS (
        INSERT INTO public."Worker" (name, is_active, profession)
        SELECT 'Deterministic #' || n, true, professions[n]::public."Profession"
        FROM generate_series(1, 3) AS n
        RETURNING id, "Worker".profession
    ), documents AS (
        INSERT INTO public."DocumentWorker" (worker_id, document_id)
        SELECT d.id, doc FROM deterministic AS d CROSS JOIN unnest(document_ids) AS doc
    )
    SELECT d.profession::text, d.id FROM deterministic AS d ORDER BY d.id;
END
$seed$;
