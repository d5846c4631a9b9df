-- purpose: one page of available_shifts() as the HTTP API's JSON body, built where the rows are.
--
-- The web app passes this text through as the response body: no row is decoded into Python objects and encoded
-- again, which would be most of the cost of a full page over HTTP (PERFORMANCE.md, "HTTP"). The text is exactly
-- what Python writes from the rows of available_shifts() (`shifts.Page.as_json()`, dumped as the web app dumps
-- JSON; tests/test_page_json.py compares them byte for byte):
--   {"worker_id":101,"shifts":[{"id":1056480,"start":"2023-02-10T05:00:00.000","end":"2023-02-10T10:00:00.000",
--    "profession":"CNA","facility":{"id":2,"name":"381b..."}}, ...],"next_cursor":"WyIy..." | null}
-- * Timestamps always carry milliseconds (the challenge stores timestamp(3)).
-- * next_cursor is null on the last page; otherwise the base64url (no padding) of the JSON array
--   ["<start of the last row, ISO 8601, microseconds only when non-zero>",<its shift_id>], which is what
--   cli/carepg/cursor.py decodes (and Python's datetime.isoformat() writes).
-- * Objects are concatenated, not json_build_object()ed: that writes "a" : 1 with spaces, and the body must stay
--   byte for byte what clients already get. Strings go through to_json(), whose escaping equals Python's json.
-- * It returns text, not json: a json result would be parsed once more on the way out (json_in validates).
-- * Per-row calls are what it costs (~70 us of ~170 us for 50 rows, on top of available_shifts()): to_char() is
--   the cheapest exact timestamp format; the challenge's three professions are spelled out, which saves
--   to_json()'s per-call type lookup (any other label still goes through it).
--
-- Whether a next page exists: one row more than asked. available_shifts() stops at 1000 rows, so a full page of
-- 1000 asks for one row past its last instead.
-- SECURITY DEFINER for the same reasons as available_shifts (see available_shifts.sql); it adds no table access
-- of its own.

SET LOCAL ROLE carepg_owner;

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
    PERFORM shifts_private.check_acting_for(available_shifts_json.worker_id);  -- CP403 unless the caller may act for this worker
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
Errors: CP404 unknown worker; CP400 bad argument; CP403 (DETAIL not_your_worker) when the transaction's identity (carepg.worker_id, see shifts_private.check_acting_for) is another worker.$comment$;
GRANT EXECUTE ON FUNCTION shifts.available_shifts_json(integer, timestamp, timestamp, timestamp, integer, integer)
    TO carepg_api, carepg_reader;

RESET ROLE;
