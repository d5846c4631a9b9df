"""The HTTP yardstick: the least a WSGI app can do to answer a full page, to measure `carepg serve` against.

Same server (granian, WSGI, the same workers and threads as `carepg serve`), same role (carepg_api), same
function: one connection per thread, one prepared statement that builds the page inside PostgreSQL
(json_agg(json_build_object(...)) over shifts.available_shifts(..., 51), with the next cursor) and writes the
bytes out. No validation, no errors, no logging, no pool, no timeout: what carepg's features cost is the gap.

    CAREPG_WEB_DATABASE_URL=... PYTHONPATH=bench python bench/yardstick.py PORT WORKERS THREADS
"""

import os
import sys
import threading

import psycopg

QUERY = """
SELECT convert_to(json_build_object(
    'worker_id', %(worker)s::integer,
    'shifts', coalesce(json_agg(json_build_object('id', shift_id, 'start', start, 'end', "end",
        'profession', profession, 'facility', json_build_object('id', facility_id, 'name', facility_name))
        ORDER BY n) FILTER (WHERE n <= 50), '[]'),
    'next_cursor', CASE WHEN count(*) > 50 THEN translate(encode(convert_to(json_build_array(
        max(start) FILTER (WHERE n = 50), max(shift_id) FILTER (WHERE n = 50))::text, 'UTF8'), 'base64'), '+/=', '-_')
    END)::text, 'UTF8')
FROM shifts.available_shifts(%(worker)s::integer, max_rows => 51) WITH ORDINALITY
    AS a (shift_id, facility_id, facility_name, start, "end", profession, n)
"""
local = threading.local()


def app(environ, start_response):
    conn = getattr(local, "conn", None)
    if conn is None:
        conn = local.conn = psycopg.connect(os.environ["CAREPG_WEB_DATABASE_URL"], autocommit=True, prepare_threshold=0)
    worker = int(environ["PATH_INFO"].split("/")[2])  # /workers/{id}/shifts
    body = conn.execute(QUERY, {"worker": worker}, binary=True).fetchone()[0]
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


if __name__ == "__main__":
    from granian import Granian
    from granian.constants import Interfaces

    port, workers, threads = (int(a) for a in sys.argv[1:4])
    Granian("yardstick:app", address="127.0.0.1", port=port, interface=Interfaces.WSGI, workers=workers,
            blocking_threads=threads).serve()  # fmt: skip
