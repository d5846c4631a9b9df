"""The HTTP write path end to end: POST/DELETE/GET on /workers/{id}/claims and the calendar's /days, on the real
`carepg serve` and the session's seeded database. Every test gives back what it claimed, so the other HTTP tests
see the seeded data as it was."""

from __future__ import annotations

import datetime as dt
import http.client
import threading
import time
from collections import Counter

import psycopg
import pytest

from test_web_api import assert_problem
from web_fixtures import Server, WebDatabase, own_token, run_server


@pytest.fixture
def owner(web_db: WebDatabase):
    """A connection as the database owner; claims left by the test are released afterwards."""
    with psycopg.connect(web_db.url, autocommit=True) as conn:
        before = {r[0] for r in conn.execute('SELECT id FROM "Shift" WHERE worker_id IS NOT NULL')}
        yield conn
        conn.execute('UPDATE "Shift" SET worker_id = NULL WHERE worker_id IS NOT NULL AND NOT (id = ANY (%s))',
                     (list(before),))  # fmt: skip


def open_shift(conn, worker_id: int, n: int = 0) -> dict:
    row = conn.execute("SELECT shift_id, start FROM shifts.available_shifts(%s, max_rows => %s) OFFSET %s",
                       (worker_id, n + 1, n)).fetchone()  # fmt: skip
    return {"id": row[0], "start": row[1]}


def claims_of(server: Server, worker_id: int) -> list[int]:
    return [s["id"] for s in server.request(f"/workers/{worker_id}/claims?limit=1000").json()["shifts"]]


def test_claim_release_and_list(web_server: Server, web_db: WebDatabase, owner):
    w = web_db.workers["CNA"]
    shift = open_shift(owner, w)
    created = web_server.post_json(f"/workers/{w}/claims", {"shift_id": shift["id"]})
    assert created.status == 201, created.body
    assert created.headers["location"] == f"/workers/{w}/claims/{shift['id']}"
    assert created.headers["content-type"] == "application/json"
    body = created.json()
    assert body["id"] == shift["id"] and set(body) == {"id", "start", "end", "profession", "facility"}
    assert owner.execute('SELECT worker_id FROM "Shift" WHERE id = %s', (shift["id"],)).fetchone()[0] == w

    again = web_server.post_json(f"/workers/{w}/claims", {"shift_id": shift["id"]})
    assert again.status == 200 and again.json() == body and again.headers["location"] == created.headers["location"]
    assert claims_of(web_server, w) == [shift["id"]]
    first_page = web_server.request(f"/workers/{w}/shifts?limit=5").json()["shifts"]
    assert shift["id"] not in [s["id"] for s in first_page]

    other = web_db.workers["LVN"]
    conflict = assert_problem(web_server.post_json(f"/workers/{other}/claims", {"shift_id": shift["id"]}), 409,
                              detail_has="taken by another worker")  # fmt: skip
    assert conflict["reason"] == "taken"

    released = web_server.request(f"/workers/{w}/claims/{shift['id']}", method="DELETE")
    assert released.status == 204 and released.body == b"" and "content-length" not in released.headers
    assert claims_of(web_server, w) == []
    assert shift["id"] in [s["id"] for s in web_server.request(f"/workers/{w}/shifts?limit=5").json()["shifts"]]
    assert_problem(web_server.request(f"/workers/{w}/claims/{shift['id']}", method="DELETE"), 404,
                   detail_has="does not hold")  # fmt: skip


def test_overlap_and_the_rules_are_refused_in_words(web_server: Server, web_db: WebDatabase, owner):
    w = web_db.workers["CNA"]
    first, second = open_shift(owner, w), open_shift(owner, w, 1)  # both start a few ms after 05:00
    overlapping = second["id"]
    assert second["start"] - first["start"] < dt.timedelta(hours=1)
    assert web_server.post_json(f"/workers/{w}/claims", {"shift_id": first["id"]}).status == 201
    body = assert_problem(web_server.post_json(f"/workers/{w}/claims", {"shift_id": overlapping}), 409,
                          detail_has=f"overlaps shift {first['id']}")  # fmt: skip
    assert body["reason"] == "overlap"
    ineligible = owner.execute(
        """SELECT s.id FROM "Shift" s JOIN "Facility" f ON f.id = s.facility_id
           WHERE NOT f.is_active AND s.profession = 'CNA' AND s.worker_id IS NULL AND NOT s.is_deleted
           LIMIT 1""").fetchone()[0]  # fmt: skip
    body = assert_problem(web_server.post_json(f"/workers/{w}/claims", {"shift_id": ineligible}), 403,
                          detail_has="is not active")  # fmt: skip
    assert body["reason"] == "facility_inactive" and body["type"] == "urn:carepg:problem:forbidden"
    rn_shift = open_shift(owner, web_db.workers["RN"])["id"]  # open, at an active facility, for an RN
    body = assert_problem(web_server.post_json(f"/workers/{w}/claims", {"shift_id": rn_shift}), 403,
                          detail_has="is for a RN")  # fmt: skip
    assert body["reason"] == "profession"
    assert_problem(web_server.post_json(f"/workers/{w}/claims", {"shift_id": 2_000_000_000}), 404,
                   detail_has="shift 2000000000 does not exist")  # fmt: skip
    assert_problem(web_server.post_json("/workers/2000000000/claims", {"shift_id": first["id"]}), 404,
                   detail_has="worker 2000000000 does not exist")  # fmt: skip
    assert claims_of(web_server, w) == [first["id"]]


@pytest.mark.parametrize(
    ("body", "content_type", "detail"),
    [
        (None, "application/json", "not a JSON object"),
        (b"", "application/json", "not a JSON object"),
        (b'{"shift_id": 5', "application/json", "not a JSON object"),
        (b'{"shift_id": 5}', "text/plain", "Content-Type: application/json"),
        (b'{"shift_id": 5}', None, "Content-Type: application/json"),
        (b'{"shift_id": 5, "worker_id": 1}', "application/json", "exactly"),
        (b'{"shift": 5}', "application/json", "exactly"),
        (b"{}", "application/json", "exactly"),
        (b"[5]", "application/json", "exactly"),
        (b"5", "application/json", "exactly"),
        (b'{"shift_id": 5, "shift_id": 6}', "application/json", "not a JSON object"),
        (b'{"shift_id": "5"}', "application/json", "invalid shift_id"),
        (b'{"shift_id": 5.0}', "application/json", "invalid shift_id"),
        (b'{"shift_id": true}', "application/json", "invalid shift_id"),
        (b'{"shift_id": null}', "application/json", "invalid shift_id"),
        (b'{"shift_id": 0}', "application/json", "invalid shift_id"),
        (b'{"shift_id": -1}', "application/json", "invalid shift_id"),
        (b'{"shift_id": 2147483648}', "application/json", "invalid shift_id"),
        (b'{"shift_id": 1e400}', "application/json", "invalid shift_id"),
        (b"\xff\xfe{", "application/json", "not a JSON object"),
        (b"[" * 1000, "application/json", "not a JSON object"),
    ],
)
def test_a_bad_body_is_400(web_server: Server, web_db: WebDatabase, body, content_type, detail):
    headers = {"Content-Type": content_type} if content_type else {}
    reply = web_server.request(f"/workers/{web_db.workers['CNA']}/claims", "POST", headers, body)
    assert_problem(reply, 400, detail_has=detail)


def test_an_oversized_body_is_413(web_server: Server, web_db: WebDatabase):
    reply = web_server.request(f"/workers/{web_db.workers['CNA']}/claims", "POST",
                               {"Content-Type": "application/json"}, b'{"shift_id": 5}' + b" " * 2000)  # fmt: skip
    body = assert_problem(reply, 413, detail_has="at most 1024 bytes")
    assert body["type"] == "urn:carepg:problem:content-too-large"


def test_the_body_read_is_bounded_whatever_the_client_says(web_server: Server, web_db: WebDatabase):
    import http.client

    from web_fixtures import bearer

    conn = http.client.HTTPConnection(web_server.host, web_server.port, timeout=30)
    try:  # a declared length far beyond the bound: refused without reading it
        conn.putrequest("POST", f"/workers/{web_db.workers['CNA']}/claims")
        conn.putheader("Authorization", bearer(web_db.workers["CNA"])["Authorization"])
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(10**9))
        conn.endheaders()
        conn.send(b'{"shift_id": 5}')
        resp = conn.getresponse()
        assert resp.status == 413 and b"at most 1024 bytes" in resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize(("path", "method", "allow"), [
    ("/workers/1/claims", "PUT", "GET, HEAD, POST"),
    ("/workers/1/claims", "DELETE", "GET, HEAD, POST"),
    ("/workers/1/claims", "PATCH", "GET, HEAD, POST"),
    ("/workers/1/claims/5", "GET", "DELETE"),
    ("/workers/1/claims/5", "POST", "DELETE"),
    ("/workers/1/claims/5", "PUT", "DELETE"),
    ("/workers/1/days", "POST", "GET, HEAD"),
])  # fmt: skip
def test_other_methods_are_405_with_allow(web_server: Server, path: str, method: str, allow: str):
    reply = web_server.request(path, method=method)
    assert_problem(reply, 405, detail_has=f"{method} is not allowed")
    assert reply.headers["allow"] == allow


@pytest.mark.parametrize("path", ["/workers/x/claims", "/workers/0/claims", "/workers/1/claims/x",
                                  "/workers/1/claims/0", "/workers/1/claims/99999999999"])  # fmt: skip
def test_malformed_ids_in_claim_paths_are_400(web_server: Server, path: str):
    method = "DELETE" if path.count("/") == 4 else "GET"
    assert_problem(web_server.request(path, method=method), 400, detail_has="invalid")


def test_query_parameters_are_checked_on_claim_routes(web_server: Server, web_db: WebDatabase):
    w = web_db.workers["CNA"]
    assert_problem(web_server.request(f"/workers/{w}/claims?group=date"), 400, detail_has="unknown parameter")
    assert_problem(web_server.request(f"/workers/{w}/claims?limit=0"), 400, detail_has="invalid limit")
    assert_problem(web_server.request(f"/workers/{w}/claims?cursor=abc"), 400, detail_has="invalid cursor")
    assert_problem(web_server.post_json(f"/workers/{w}/claims?x=1", {"shift_id": 5}), 400, detail_has="takes none")
    assert_problem(web_server.request("/workers/2000000000/claims"), 404)


def concurrent_posts(server: Server, requests: list[tuple[int, int]]) -> list:
    barrier = threading.Barrier(len(requests))
    replies: list = [None] * len(requests)

    def post(i, worker, shift):
        barrier.wait()
        replies[i] = server.post_json(f"/workers/{worker}/claims", {"shift_id": shift})

    threads = [threading.Thread(target=post, args=(i, *r)) for i, r in enumerate(requests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return replies


def test_eight_concurrent_posts_for_one_shift_give_exactly_one_201(web_server: Server, web_db: WebDatabase, owner):
    cna = web_db.workers["CNA"]
    docs = [r[0] for r in owner.execute('SELECT id FROM "Document"')]
    rivals = [owner.execute("""INSERT INTO "Worker" (name, is_active, profession) VALUES ('rival', true, 'CNA')
                               RETURNING id""").fetchone()[0] for _ in range(7)]  # fmt: skip
    for r in rivals:
        owner.execute('INSERT INTO "DocumentWorker" (worker_id, document_id) SELECT %s, unnest(%s::int[])', (r, docs))
    try:
        for n in range(3):
            shift = open_shift(owner, cna, n)["id"]
            replies = concurrent_posts(web_server, [(w, shift) for w in [cna, *rivals]])
            assert Counter(r.status for r in replies) == {201: 1, 409: 7}, [r.body for r in replies]
            winner = [w for w, r in zip([cna, *rivals], replies, strict=True) if r.status == 201][0]
            assert owner.execute('SELECT worker_id FROM "Shift" WHERE id = %s', (shift,)).fetchone()[0] == winner
            owner.execute('UPDATE "Shift" SET worker_id = NULL WHERE id = %s', (shift,))
        # One worker's eight retries at once: one 201, seven 200, one claim.
        shift = open_shift(owner, cna)["id"]
        replies = concurrent_posts(web_server, [(cna, shift)] * 8)
        assert Counter(r.status for r in replies) == {201: 1, 200: 7}
    finally:
        owner.execute('UPDATE "Shift" SET worker_id = NULL WHERE worker_id = ANY (%s)', (rivals,))
        owner.execute('DELETE FROM "DocumentWorker" WHERE worker_id = ANY (%s)', (rivals,))
        owner.execute('DELETE FROM "Worker" WHERE id = ANY (%s)', (rivals,))


def test_claims_page_with_the_same_cursor_as_shifts(web_server: Server, web_db: WebDatabase, owner):
    w = web_db.workers["RN"]
    held = []
    for day in range(1, 8):  # one shift a day: none overlaps another
        start = dt.datetime(2023, 2, day)
        row = web_server.request(f"/workers/{w}/shifts?from={start.date()}&limit=1").json()["shifts"][0]
        assert web_server.post_json(f"/workers/{w}/claims", {"shift_id": row["id"]}).status == 201
        held.append(row["id"])
    seen, path = [], f"/workers/{w}/claims?limit=3"
    while path:
        body = web_server.request(path).json()
        assert set(body) == {"worker_id", "shifts", "next_cursor"} and len(body["shifts"]) <= 3
        seen += [s["id"] for s in body["shifts"]]
        path = f"/workers/{w}/claims?limit=3&cursor={body['next_cursor']}" if body["next_cursor"] else ""
    assert seen == held
    window = web_server.request(f"/workers/{w}/claims?from=2023-02-03&to=2023-02-05").json()["shifts"]
    assert [s["id"] for s in window] == held[2:4]


def test_days_answer_each_visible_day_at_once(web_server: Server, web_db: WebDatabase, owner):
    w = web_db.workers["CNA"]
    body = web_server.request(f"/workers/{w}/days?from=2023-02-01&to=2023-03-01&per_day=3").json()
    assert set(body) == {"worker_id", "days"} and body["worker_id"] == w
    dates = [d["date"] for d in body["days"]]
    assert dates == sorted(dates) and len(dates) == 28  # every day of February has shifts in the seed
    for day in body["days"][:3] + body["days"][-2:]:
        start = dt.date.fromisoformat(day["date"])
        nxt = start + dt.timedelta(days=1)
        whole = owner.execute("SELECT shifts.count_available_shifts(%s, %s, %s)", (w, start, nxt)).fetchone()[0]
        assert day["available"] == whole
        page = web_server.request(f"/workers/{w}/shifts?from={start}&to={nxt}&limit=3").json()
        assert day["shifts"] == page["shifts"] and day["next_cursor"] == page["next_cursor"]
        rest = web_server.request(f"/workers/{w}/shifts?from={start}&to={nxt}&limit=1000&cursor={day['next_cursor']}")
        assert len(rest.json()["shifts"]) == whole - 3
    for query, detail in (("from=2023-02-01", "both required"), ("from=2023-01-01&to=2023-04-01", "longer than 62"),
                          ("from=2023-02-01&to=2023-02-08&per_day=0", "invalid per_day"),
                          ("from=2023-02-01&to=2023-02-08&limit=3", "unknown parameter")):  # fmt: skip
        assert_problem(web_server.request(f"/workers/{w}/days?{query}"), 400, detail_has=detail)
    assert_problem(web_server.request("/workers/2000000000/days?from=2023-02-01&to=2023-02-02"), 404)


def test_the_server_answers_while_every_connection_waits_for_a_lock(web_db: WebDatabase, owner, tmp_path):
    """The host application holds worker W's lock (an open document change); W's claims wait for it and take every
    connection of the process (four). A read that finds no idle connection waits in a thread, not on the event
    loop, so what needs no connection is answered meanwhile; once the lock goes, everyone is answered."""
    w, other = web_db.workers["CNA"], web_db.workers["RN"]
    wanted = [open_shift(owner, w, n)["id"] for n in range(4)]
    claims: list = []
    waits = {"CAREPG_WEB_POOL_TIMEOUT": "60", "CAREPG_WEB_STATEMENT_TIMEOUT": "60000"}
    with run_server(web_db.url, tmp_path, **waits) as server, psycopg.connect(web_db.url) as host:
        threads = [threading.Thread(target=lambda s=s: claims.append(server.post_json(f"/workers/{w}/claims",
                                                                                      {"shift_id": s})))
                   for s in wanted]  # fmt: skip
        read = http.client.HTTPConnection(server.host, server.port, timeout=60)
        try:
            host.execute('DELETE FROM "DocumentWorker" WHERE worker_id = %s', (w,))  # W's lock, held open
            for t in threads:
                t.start()
            deadline = time.monotonic() + 30
            while owner.execute("""SELECT count(*) FROM pg_stat_activity WHERE application_name = 'carepg-web'
                                   AND wait_event_type = 'Lock'""").fetchone()[0] < 4:  # fmt: skip
                assert time.monotonic() < deadline, "the claims never waited for the host's lock"
                time.sleep(0.02)
            path = f"/workers/{other}/shifts?limit=5"
            read.request("GET", path, headers={"Authorization": f"Bearer {own_token(path)}"})
            assert server.request("/openapi.json", token=None).status == 200  # the loop is free
            assert server.request("/calendar.js", token=None).status == 200
            assert not claims, "answered only once the claims were"
        finally:
            host.rollback()
            for t in threads:
                t.join(60)
        page = read.getresponse()
        assert page.status == 200 and b'"shifts"' in page.read()
        read.close()
    assert sorted(r.status for r in claims)[0] == 201 and {r.status for r in claims} <= {201, 409}, claims
