-- purpose: the HTTP API's page as JSON built in PostgreSQL: shifts.available_shifts_json(), which returns one
-- page of available_shifts() as the exact body the API answers, so the web app passes it through instead of
-- decoding 50 rows into Python objects and encoding them again (PERFORMANCE.md, "HTTP").
--
-- Every object is as its file under sql/ says at this revision (sql/shifts/available_shifts_json.sql, the schema
-- comment of sql/shifts/schema.sql).

SET LOCAL ROLE carepg_owner;

COMMENT ON SCHEMA shifts IS
    'carepg: open shifts. API: available_shifts(), available_shifts_json(), count_available_shifts(), available_shifts_by_day(), claim_shift(), release_shift(), claimed_shifts(), refresh_eligibility(), schedule_refresh(), unschedule_refresh(), eligible_facility_ids(), docs_ok().';

CREATE OR REPLACE FUNCTION shifts.available_shifts_json(
    worker_id integer,
    start_from timestamp DEFAULT NULL,
    start_to timestamp DEFAULT NULL,
    after_start timestamp DEFAULT NULL,
    after_id integer DEFAULT NULL,
    max_rows integer DEFAULT 100
)
RETURNS text
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    items text;
    fetched bigint;
    last_start timestamp;
    last_id integer;
    more boolean;
    next_cursor text := 'null';
BEGIN
    IF max_rows IS NULL OR max_rows < 1 OR max_rows > 1000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 1000, got %', coalesce(max_rows::text, 'NULL')
            USING ERRCODE = 'CP400';
    END IF;

    SELECT string_agg(
               '{"id":' || a.shift_id
               || ',"start":"' || to_char(a.start, 'YYYY-MM-DD"T"HH24:MI:SS.MS')
               || '","end":"' || to_char(a."end", 'YYYY-MM-DD"T"HH24:MI:SS.MS')
               || '","profession":' || CASE a.profession WHEN 'CNA' THEN '"CNA"' WHEN 'LVN' THEN '"LVN"'
                                       WHEN 'RN' THEN '"RN"' ELSE to_json(a.profession::text)::text END
               || ',"facility":{"id":' || a.facility_id
               || ',"name":' || coalesce(to_json(a.facility_name)::text, 'null') || '}}',
               ',' ORDER BY a.n) FILTER (WHERE a.n <= max_rows),
           count(*),
           max(a.start) FILTER (WHERE a.n = max_rows),
           max(a.shift_id) FILTER (WHERE a.n = max_rows)
    INTO items, fetched, last_start, last_id
    FROM shifts.available_shifts(available_shifts_json.worker_id, start_from, start_to, after_start, after_id,
                                 least(max_rows + 1, 1000))
         WITH ORDINALITY AS a (shift_id, facility_id, facility_name, start, "end", profession, n);

    more := fetched > max_rows;
    IF NOT more AND fetched = 1000 AND max_rows = 1000 THEN
        more := EXISTS (
            SELECT FROM shifts.available_shifts(available_shifts_json.worker_id, start_from, start_to,
                                                last_start, last_id, 1));
    END IF;
    IF more THEN
        next_cursor := '"' || translate(encode(convert_to(
            '["' || to_char(last_start, 'YYYY-MM-DD"T"HH24:MI:SS')
            || CASE WHEN date_trunc('second', last_start) = last_start THEN '' ELSE to_char(last_start, '.US') END
            || '",' || last_id || ']', 'UTF8'), 'base64'), E'+/=\n', '-_') || '"';
    END IF;
    RETURN '{"worker_id":' || available_shifts_json.worker_id || ',"shifts":[' || coalesce(items, '')
        || '],"next_cursor":' || next_cursor || '}';
END
$function$;

COMMENT ON FUNCTION shifts.available_shifts_json(integer, timestamp, timestamp, timestamp, integer, integer) IS
$comment$One page of shifts.available_shifts() (same arguments, same errors) as the HTTP API's JSON text: {"worker_id", "shifts": [{"id", "start", "end", "profession", "facility": {"id", "name"}}], "next_cursor"}.
Timestamps are ISO 8601 with milliseconds; next_cursor is null on the last page, else an opaque token for the next page (the API's cursor parameter).
Errors: CP404 unknown worker; CP400 bad argument.$comment$;
GRANT EXECUTE ON FUNCTION shifts.available_shifts_json(integer, timestamp, timestamp, timestamp, integer, integer)
    TO carepg_api, carepg_reader;

RESET ROLE;
