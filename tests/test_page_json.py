"""shifts.available_shifts_json() writes exactly the bytes the Python shell wrote from rows before it existed.

The reference is `Page.as_json()` (rows decoded by psycopg, timestamps by datetime.isoformat, the cursor by
cursor.encode) dumped the way the web app dumps JSON. Compared byte for byte: timestamps always with
milliseconds, cursors with and without microseconds, escaping of any facility name, limits 1 and 1000, windows,
cursors and last pages, and group=date through the WSGI app.
"""

from __future__ import annotations

import datetime as dt
import io
import json

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import builders
from carepg import cursor, shifts
from carepg.auth import Verifier
from carepg.web.app import App, group_by_date
from carepg.web.pool import Database, Settings
from web_fixtures import TEST_KEY, WebDatabase, bearer


def old_bytes(conn, worker_id: int, **kwargs) -> bytes:
    page = shifts.page(conn, worker_id, **kwargs).as_json()
    return json.dumps(page, ensure_ascii=False, separators=(",", ":")).encode()


def both(conn, worker_id: int, **kwargs) -> tuple[bytes, bytes]:
    return old_bytes(conn, worker_id, **kwargs), shifts.page_json(conn, worker_id, **kwargs)


WINDOWS = [
    {},
    {"start_from": dt.datetime(2023, 2, 10)},
    {"start_from": dt.datetime(2023, 2, 3), "start_to": dt.datetime(2023, 2, 20, 13)},
    {"start_to": dt.datetime(2023, 2, 2, 5, 0, 0, 1000)},
    {"start_from": dt.datetime(2030, 1, 1)},  # empty
]


@pytest.mark.parametrize("limit", [1, 2, 50, 97, 999, 1000])
def test_pages_of_every_worker_are_byte_for_byte_the_old_output(web_db: WebDatabase, limit: int):
    with psycopg.connect(web_db.url, autocommit=True) as conn:
        workers = [r[0] for r in conn.execute('SELECT id FROM "Worker" ORDER BY id')]
        deterministic = set(web_db.workers.values())
        compared = 0
        for worker in workers:
            # Every worker's first page; the deterministic ones (many pages) in every window, paged to the end.
            windows = WINDOWS if worker in deterministic else WINDOWS[:1]
            for window in windows:
                after, pages = None, 0
                while True:
                    old, new = both(conn, worker, limit=limit, after=after, **window)
                    assert new == old, (worker, window, after)
                    compared += 1
                    after = json.loads(new)["next_cursor"]
                    pages += 1
                    if after is None or worker not in deterministic or pages >= (3 if limit < 50 else 40):
                        break
        assert compared > len(workers)


def test_the_last_full_page_of_1000_says_there_is_no_next_page(web_db: WebDatabase):
    with psycopg.connect(web_db.url, autocommit=True) as conn:
        worker, total = max(
            (conn.execute("SELECT %s, shifts.count_available_shifts(%s)", (w, w)).fetchone()
             for w in web_db.workers.values()), key=lambda r: r[1])  # fmt: skip
        assert total > 1001
        # From the cursor of row total-1001 on, exactly 1000 rows are left: a full last page.
        with conn.cursor() as cur:
            every = []
            after = (None, None)
            while True:
                batch = cur.execute("SELECT start, shift_id FROM shifts.available_shifts(%s, NULL, NULL, %s, %s, 1000)",
                                    (worker, *after)).fetchall()  # fmt: skip
                every += batch
                if len(batch) < 1000:
                    break
                after = batch[-1]
        assert len(every) == total
        last_but = cursor.encode(*every[total - 1001])
        old, new = both(conn, worker, limit=1000, after=last_but)
        assert new == old and len(json.loads(new)["shifts"]) == 1000 and json.loads(new)["next_cursor"] is None
        one_more = cursor.encode(*every[total - 1002])
        old, new = both(conn, worker, limit=1000, after=one_more)
        assert new == old and json.loads(new)["next_cursor"] is not None


def test_unknown_worker_and_bad_limits_raise_the_same_errors(web_db: WebDatabase):
    with psycopg.connect(web_db.url, autocommit=True) as conn:
        with pytest.raises(psycopg.Error) as unknown:
            conn.execute("SELECT shifts.available_shifts_json(2000000000)")
        assert unknown.value.sqlstate == "CP404"
        for bad in (0, 1001, None):
            with pytest.raises(psycopg.Error) as raised:
                conn.execute("SELECT shifts.available_shifts_json(%s, max_rows => %s)", (web_db.workers["CNA"], bad))
            assert raised.value.sqlstate == "CP400"
        with pytest.raises(psycopg.Error) as half:
            conn.execute("SELECT shifts.available_shifts_json(%s, after_id => 5)", (web_db.workers["CNA"],))
        assert half.value.sqlstate == "CP400"


# Names that need escaping (quotes, backslashes, every control character) or none (non-ASCII, astral, U+2028).
names = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=0, max_size=30
)
# timestamp(3) values, with and without milliseconds, across the years Python and PostgreSQL share.
starts = st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)).map(
    lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000)
) | st.datetimes(min_value=dt.datetime(2023, 1, 1), max_value=dt.datetime(2023, 1, 2)).map(
    lambda t: t.replace(microsecond=0)
)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(facility_names=st.lists(names, min_size=1, max_size=3), start_list=st.lists(starts, min_size=1, max_size=6),
       limit=st.integers(1, 4))  # fmt: skip
def test_any_names_and_timestamps_give_the_old_bytes(postgresql, facility_names, start_list, limit):
    conn = postgresql
    conn.execute('TRUNCATE "Shift", "DocumentWorker", "FacilityRequirement", "Worker", "Facility", "Document"'
                 " RESTART IDENTITY CASCADE")  # fmt: skip
    worker = builders.worker(conn)
    facilities = []
    for name in facility_names:
        fid = builders.facility(conn)
        conn.execute('UPDATE "Facility" SET name = %s WHERE id = %s', (name, fid))
        facilities.append(fid)
    for i, start in enumerate(start_list):
        builders.shift(conn, facilities[i % len(facilities)], start=start, hours=0)
    builders.refresh(conn)
    after = None
    while True:
        old, new = both(conn, worker, limit=limit, after=after)
        assert new == old
        after = json.loads(new)["next_cursor"]
        if after is None:
            break


def call(app: App, path: str, query: str, worker_id: int) -> tuple[str, bytes]:
    seen = {}
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query, "wsgi.input": io.BytesIO(),
               "HTTP_AUTHORIZATION": bearer(worker_id)["Authorization"]}  # fmt: skip
    body = b"".join(app(environ, lambda status, headers: seen.update(status=status)))
    return seen["status"], body


def test_group_by_date_is_the_old_grouping_of_the_old_page(web_db: WebDatabase):
    api_url = web_db.url.replace("postgres@", "carepg_api@")
    database = Database(lambda: Settings(url=api_url))
    app = App(database, Verifier(TEST_KEY))
    worker = web_db.workers["RN"]
    try:
        with psycopg.connect(web_db.url, autocommit=True) as conn:
            for limit, window in ((1, ""), (120, ""), (1000, "&from=2023-02-05&to=2023-02-09")):
                status, body = call(app, f"/workers/{worker}/shifts", f"limit={limit}&group=date{window}", worker)
                assert status.startswith("200")
                kwargs = {"start_from": dt.datetime(2023, 2, 5), "start_to": dt.datetime(2023, 2, 9)} if window else {}
                expected = group_by_date(shifts.page(conn, worker, limit=limit, **kwargs).as_json())
                assert body == json.dumps(expected, ensure_ascii=False, separators=(",", ":")).encode()
                status, flat = call(app, f"/workers/{worker}/shifts", f"limit={limit}{window}", worker)
                assert flat == old_bytes(conn, worker, limit=limit, **kwargs)
    finally:
        database.close()
