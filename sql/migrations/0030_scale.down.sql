-- purpose: undo 0030: the open-shift indexes as 0002 created them (keys only), the view as 0003 defined it, and
-- the document/requirement triggers and the two read functions as 0005 defined them.

-- First the triggers (back to _patch()), so _patch_changed() and then the view can be dropped.
CREATE OR REPLACE FUNCTION shifts._on_document_worker_change()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    changed_w integer[] := '{}';
    changed_d integer[] := '{}';
    pair_w integer[];
    pair_f integer[];
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT changed_w || array_agg(n.worker_id), changed_d || array_agg(n.document_id)
        INTO changed_w, changed_d FROM new_rows AS n;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        SELECT changed_w || array_agg(o.worker_id), changed_d || array_agg(o.document_id)
        INTO changed_w, changed_d FROM old_rows AS o;
    END IF;
    IF cardinality(changed_w) = 0 OR NOT shifts._begin_eligibility_write() THEN
        RETURN NULL;
    END IF;
    SELECT array_agg(c.w), array_agg(c.f) INTO pair_w, pair_f
    FROM (SELECT DISTINCT ch.w, r.facility_id AS f
          FROM unnest(changed_w, changed_d) AS ch (w, d)
          JOIN public."FacilityRequirement" AS r ON r.document_id = ch.d) AS c;
    PERFORM shifts._patch(pair_w, pair_f);
    RETURN NULL;
END
$function$;
COMMENT ON FUNCTION shifts._on_document_worker_change() IS
    'carepg internal: after DocumentWorker changes, re-check each changed worker at the facilities requiring the changed documents.';

CREATE OR REPLACE FUNCTION shifts._on_facility_requirement_change()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    changed_f integer[] := '{}';
    pair_w integer[];
    pair_f integer[];
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT changed_f || array_agg(n.facility_id) INTO changed_f FROM new_rows AS n;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        SELECT changed_f || array_agg(o.facility_id) INTO changed_f FROM old_rows AS o;
    END IF;
    IF cardinality(changed_f) = 0 OR NOT shifts._begin_eligibility_write() THEN
        RETURN NULL;
    END IF;
    -- Active workers, plus any worker that already has a patch there (it must stay true).
    SELECT array_agg(c.w), array_agg(c.f) INTO pair_w, pair_f
    FROM (SELECT w.id AS w, f.f
          FROM (SELECT DISTINCT unnest(changed_f) AS f) AS f
          CROSS JOIN public."Worker" AS w
          WHERE w.is_active
          UNION
          SELECT p.worker_id, p.facility_id
          FROM shifts.eligibility_patch AS p
          WHERE p.facility_id = ANY (changed_f)) AS c;
    PERFORM shifts._patch(pair_w, pair_f);
    RETURN NULL;
END
$function$;
COMMENT ON FUNCTION shifts._on_facility_requirement_change() IS
    'carepg internal: after FacilityRequirement changes, re-check the changed facilities for every active worker.';

DROP FUNCTION shifts._patch_changed(integer[], integer[]);
DROP INDEX public.carepg_shift_open_profession_start_idx;
CREATE INDEX carepg_shift_open_profession_start_idx
    ON public."Shift" (profession, start, id)
    WHERE worker_id IS NULL AND NOT is_deleted;
COMMENT ON INDEX public.carepg_shift_open_profession_start_idx IS
    'carepg: open shifts by profession in (start, id) order; serves workers eligible at many facilities.';

DROP INDEX public.carepg_shift_open_profession_facility_start_idx;
CREATE INDEX carepg_shift_open_profession_facility_start_idx
    ON public."Shift" (profession, facility_id, start, id)
    WHERE worker_id IS NULL AND NOT is_deleted;
COMMENT ON INDEX public.carepg_shift_open_profession_facility_start_idx IS
    'carepg: open shifts by profession and facility in (start, id) order; serves workers eligible at few facilities.';

DROP MATERIALIZED VIEW shifts.eligible_pair;
CREATE MATERIALIZED VIEW shifts.eligible_pair AS
SELECT w.id AS worker_id, f.id AS facility_id
FROM public."Worker" AS w
CROSS JOIN public."Facility" AS f
WHERE w.is_active
  AND f.is_active
  AND NOT EXISTS (
      SELECT FROM public."FacilityRequirement" AS r
      WHERE r.facility_id = f.id
        AND NOT EXISTS (
            SELECT FROM public."DocumentWorker" AS d
            WHERE d.worker_id = w.id AND d.document_id = r.document_id))
WITH DATA;
COMMENT ON MATERIALIZED VIEW shifts.eligible_pair IS
    'carepg: (worker, facility) pairs where an active worker holds every document an active facility requires. Refresh with shifts.refresh_eligibility().';
CREATE UNIQUE INDEX eligible_pair_worker_facility_key ON shifts.eligible_pair (worker_id, facility_id);
COMMENT ON INDEX shifts.eligible_pair_worker_facility_key IS
    'carepg: one row per pair; lets REFRESH MATERIALIZED VIEW CONCURRENTLY run and serves lookups by worker.';

CREATE OR REPLACE FUNCTION shifts.available_shifts(
    worker_id integer,
    start_from timestamp DEFAULT NULL,
    start_to timestamp DEFAULT NULL,
    after_start timestamp DEFAULT NULL,
    after_id integer DEFAULT NULL,
    max_rows integer DEFAULT 100
)
RETURNS TABLE (
    shift_id integer,
    facility_id integer,
    facility_name text,
    start timestamp,
    "end" timestamp,
    profession public."Profession"
)
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    worker record;
    facilities integer[];
    facility_count real;
    plan text;
    has_claims boolean;
    -- Unbounded ends become infinities so the same index conditions serve every call.
    lower_bound constant timestamp := coalesce(start_from, '-infinity');
    upper_bound constant timestamp := coalesce(start_to, 'infinity');
    cursor_start constant timestamp := coalesce(after_start, '-infinity');
    cursor_id constant integer := coalesce(after_id, -2147483648);
BEGIN
    IF max_rows IS NULL OR max_rows < 1 OR max_rows > 1000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 1000, got %', coalesce(max_rows::text, 'NULL')
            USING ERRCODE = 'CP400';
    END IF;
    IF start_from > start_to THEN
        RAISE EXCEPTION 'start_from (%) is after start_to (%)', start_from, start_to
            USING ERRCODE = 'CP400', HINT = 'the window is start_from <= start < start_to';
    END IF;
    IF (after_start IS NULL) <> (after_id IS NULL) THEN
        RAISE EXCEPTION 'a cursor needs both after_start and after_id'
            USING ERRCODE = 'CP400', HINT = 'pass the start and id of the last row of the previous page';
    END IF;

    SELECT w.is_active, w.profession INTO worker
    FROM public."Worker" AS w
    WHERE w.id = available_shifts.worker_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'worker % does not exist', coalesce(available_shifts.worker_id::text, 'NULL')
            USING ERRCODE = 'CP404';
    END IF;
    IF NOT worker.is_active THEN
        RETURN;  -- an inactive worker is eligible nowhere
    END IF;

    facilities := shifts.eligible_facility_ids(available_shifts.worker_id);
    IF cardinality(facilities) = 0 THEN
        RETURN;
    END IF;
    -- The overlap rule costs one index probe per candidate, and nothing for a worker without claims.
    has_claims := EXISTS (
        SELECT FROM public."Shift" AS c
        WHERE c.worker_id = available_shifts.worker_id AND NOT c.is_deleted);

    -- Two plans, both reading only open shifts in (start, id) order and stopping after max_rows:
    --  * per facility: a range scan of each eligible facility's open shifts, merged; reads up to
    --    (eligible facilities x max_rows) entries;
    --  * one walk over the profession's open shifts, skipping ineligible facilities; reads about
    --    max_rows x (facilities / eligible facilities) entries.
    -- The walk wins once a worker is eligible at more than sqrt(facilities) of them. The setting
    -- carepg.available_shifts_plan ('walk' / 'per_facility') pins one, for tests and benchmarks.
    plan := coalesce(nullif(current_setting('carepg.available_shifts_plan', true), ''), 'auto');
    IF plan = 'auto' THEN
        SELECT CASE WHEN c.reltuples > 0 THEN c.reltuples ELSE 1000 END INTO facility_count
        FROM pg_class AS c
        WHERE c.oid = 'public."Facility"'::regclass;
        plan := CASE WHEN cardinality(facilities)::real * cardinality(facilities) > facility_count
                     THEN 'walk' ELSE 'per_facility' END;
    END IF;

    IF plan = 'walk' THEN
        RETURN QUERY
        SELECT s.id, s.facility_id, f.name, s.start::timestamp, s."end"::timestamp, s.profession
        FROM public."Shift" AS s
        JOIN public."Facility" AS f ON f.id = s.facility_id
        WHERE s.profession = worker.profession
          AND s.worker_id IS NULL
          AND NOT s.is_deleted
          AND s.start >= lower_bound
          AND s.start < upper_bound
          AND (s.start, s.id) > (cursor_start, cursor_id)
          AND s.facility_id = ANY (facilities)
          AND f.is_active
          AND (NOT has_claims OR NOT EXISTS (
              SELECT FROM public."Shift" AS c
              WHERE c.worker_id = available_shifts.worker_id AND NOT c.is_deleted
                AND tsrange(c.start, greatest(c.start, c."end")) && tsrange(s.start, greatest(s.start, s."end"))))
        ORDER BY s.start, s.id
        LIMIT max_rows;
    ELSE
        RETURN QUERY
        SELECT s.id, s.facility_id, f.name, s.start::timestamp, s."end"::timestamp, s.profession
        FROM public."Facility" AS f
        CROSS JOIN LATERAL (
            SELECT o.id, o.facility_id, o.start, o."end", o.profession
            FROM public."Shift" AS o
            WHERE o.profession = worker.profession
              AND o.facility_id = f.id
              AND o.worker_id IS NULL
              AND NOT o.is_deleted
              AND o.start >= lower_bound
              AND o.start < upper_bound
              AND (o.start, o.id) > (cursor_start, cursor_id)
              AND (NOT has_claims OR NOT EXISTS (
                  SELECT FROM public."Shift" AS c
                  WHERE c.worker_id = available_shifts.worker_id AND NOT c.is_deleted
                    AND tsrange(c.start, greatest(c.start, c."end")) && tsrange(o.start, greatest(o.start, o."end"))))
            ORDER BY o.start, o.id
            LIMIT max_rows
        ) AS s
        WHERE f.id = ANY (facilities)
          AND f.is_active
        ORDER BY s.start, s.id
        LIMIT max_rows;
    END IF;
END
$function$;

COMMENT ON FUNCTION shifts.available_shifts(integer, timestamp, timestamp, timestamp, integer, integer) IS
$comment$Open shifts a worker may take, ordered by (start, shift_id), exactly as the committed tables say now.
A shift is available to a worker when: the facility is active, the shift is not deleted, the worker is active, the shift is unclaimed, the worker holds every document the facility requires, the professions match, and the shift does not overlap a non-deleted shift the worker has claimed ([start, end) ranges).
Window: start_from <= start < start_to (NULL = unbounded). Keyset paging: pass the (start, shift_id) of the last row seen as (after_start, after_id). max_rows: 1..1000.
Errors: CP404 unknown worker; CP400 bad argument. An inactive worker gets no rows.$comment$;


CREATE OR REPLACE FUNCTION shifts.count_available_shifts(
    worker_id integer,
    start_from timestamp DEFAULT NULL,
    start_to timestamp DEFAULT NULL
)
RETURNS bigint
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    worker record;
    total bigint;
    has_claims boolean;
BEGIN
    IF start_from > start_to THEN
        RAISE EXCEPTION 'start_from (%) is after start_to (%)', start_from, start_to
            USING ERRCODE = 'CP400', HINT = 'the window is start_from <= start < start_to';
    END IF;
    SELECT w.is_active, w.profession INTO worker
    FROM public."Worker" AS w
    WHERE w.id = count_available_shifts.worker_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'worker % does not exist', coalesce(count_available_shifts.worker_id::text, 'NULL')
            USING ERRCODE = 'CP404';
    END IF;
    IF NOT worker.is_active THEN
        RETURN 0;
    END IF;
    has_claims := EXISTS (
        SELECT FROM public."Shift" AS c
        WHERE c.worker_id = count_available_shifts.worker_id AND NOT c.is_deleted);

    SELECT count(*) INTO total
    FROM public."Facility" AS f
    JOIN public."Shift" AS s ON s.facility_id = f.id
    WHERE f.id = ANY (shifts.eligible_facility_ids(count_available_shifts.worker_id))
      AND f.is_active
      AND s.profession = worker.profession
      AND s.worker_id IS NULL
      AND NOT s.is_deleted
      AND s.start >= coalesce(start_from, '-infinity')
      AND s.start < coalesce(start_to, 'infinity')
      AND (NOT has_claims OR NOT EXISTS (
          SELECT FROM public."Shift" AS c
          WHERE c.worker_id = count_available_shifts.worker_id AND NOT c.is_deleted
            AND tsrange(c.start, greatest(c.start, c."end")) && tsrange(s.start, greatest(s.start, s."end"))));
    RETURN total;
END
$function$;

COMMENT ON FUNCTION shifts.count_available_shifts(integer, timestamp, timestamp) IS
$comment$How many rows shifts.available_shifts() would return for this worker and window, without paging through them.
Errors: CP404 unknown worker; CP400 inverted window.$comment$;
-- CREATE OR REPLACE resets attributes it does not name: keep 0010's SECURITY DEFINER (grants survive).
ALTER FUNCTION shifts.available_shifts(integer, timestamp, timestamp, timestamp, integer, integer) SECURITY DEFINER;
ALTER FUNCTION shifts.count_available_shifts(integer, timestamp, timestamp) SECURITY DEFINER;
