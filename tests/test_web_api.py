"""The HTTP API end to end: real HTTP on loopback, a real `carepg serve` (granian), a real seeded database."""

from __future__ import annotations

import base64
import json
import os

import psycopg
import pytest

from carepg.errors import Conflict
from web_fixtures import Reply, Server, WebDatabase


def assert_problem(reply: Reply, status: int, *, detail_has: str = "") -> dict:
    assert reply.status == status, reply.body
    assert reply.headers["content-type"] == "application/problem+json"
    body = reply.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:carepg:problem:")
    assert body["title"]
    assert body["request_id"] == reply.headers["x-request-id"]
    assert detail_has in body["detail"]
    return body


def direct_answer(web_db: WebDatabase, worker_id: int, **window) -> list[int]:
    """Every available shift id, straight from the function (as its owner), paged with its own keyset."""
    ids: list[int] = []
    after_start = after_id = None
    with psycopg.connect(web_db.url) as conn:
        while True:
            rows = conn.execute(
                "SELECT shift_id, start FROM shifts.available_shifts(%s, %s, %s, %s, %s, 1000)",
                (worker_id, window.get("start_from"), window.get("start_to"), after_start, after_id),
            ).fetchall()
            ids += [r[0] for r in rows]
            if len(rows) < 1000:
                return ids
            after_id, after_start = rows[-1]


# --- 200 --------------------------------------------------------------------------------------------------


def test_page_has_the_issue_shape(web_server: Server, web_db: WebDatabase):
    worker = web_db.workers["CNA"]
    reply = web_server.request(f"/workers/{worker}/shifts?limit=3")
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert set(body) == {"worker_id", "shifts", "next_cursor"}
    assert body["worker_id"] == worker
    assert len(body["shifts"]) == 3
    first = body["shifts"][0]
    assert set(first) == {"id", "start", "end", "profession", "facility"}
    assert set(first["facility"]) == {"id", "name"}
    assert first["profession"] == "CNA"
    assert first["start"].startswith("2023-02-") and "T" in first["start"]
    assert isinstance(body["next_cursor"], str)
    assert direct_answer(web_db, worker)[:3] == [s["id"] for s in body["shifts"]]


def test_default_limit_is_50(web_server: Server, web_db: WebDatabase):
    body = web_server.request(f"/workers/{web_db.workers['RN']}/shifts").json()
    assert len(body["shifts"]) == 50


def test_paging_with_the_cursor_equals_the_functions_whole_answer(web_server: Server, web_db: WebDatabase):
    worker = web_db.workers["LVN"]
    expected = direct_answer(web_db, worker)
    assert len(expected) > 1000  # many pages; more than one call of the function itself
    seen: list[int] = []
    path = f"/workers/{worker}/shifts?limit=97"
    pages = 0
    while True:
        body = web_server.request(path).json()
        pages += 1
        seen += [s["id"] for s in body["shifts"]]
        if body["next_cursor"] is None:
            break
        path = f"/workers/{worker}/shifts?limit=97&cursor={body['next_cursor']}"
    assert seen == expected
    assert pages == -(-len(expected) // 97)


def test_window_and_paging_with_the_largest_limit(web_server: Server, web_db: WebDatabase):
    worker = web_db.workers["CNA"]
    expected = direct_answer(web_db, worker, start_from="2023-02-03", start_to="2023-02-20")
    seen: list[int] = []
    path = f"/workers/{worker}/shifts?from=2023-02-03&to=2023-02-20T00:00:00&limit=1000"
    while path:
        body = web_server.request(path).json()
        seen += [s["id"] for s in body["shifts"]]
        cursor = body["next_cursor"]
        path = f"/workers/{worker}/shifts?from=2023-02-03&to=2023-02-20&limit=1000&cursor={cursor}" if cursor else ""
    assert seen == expected and expected


def test_group_by_date_is_the_same_page_grouped(web_server: Server, web_db: WebDatabase):
    worker = web_db.workers["RN"]
    flat = web_server.request(f"/workers/{worker}/shifts?limit=120").json()
    grouped = web_server.request(f"/workers/{worker}/shifts?limit=120&group=date").json()
    assert set(grouped) == {"worker_id", "dates", "next_cursor"}
    assert grouped["next_cursor"] == flat["next_cursor"]
    assert [s for d in grouped["dates"] for s in d["shifts"]] == flat["shifts"]
    dates = [d["date"] for d in grouped["dates"]]
    assert dates == sorted(set(dates)) and len(dates) > 1
    for day in grouped["dates"]:
        assert all(s["start"].startswith(day["date"]) for s in day["shifts"])


def test_last_page_has_a_null_cursor_and_empty_window_is_empty(web_server: Server, web_db: WebDatabase):
    worker = web_db.workers["CNA"]
    body = web_server.request(f"/workers/{worker}/shifts?from=2030-01-01").json()
    assert body == {"worker_id": worker, "shifts": [], "next_cursor": None}


def test_head_gives_headers_without_a_body(web_server: Server, web_db: WebDatabase):
    reply = web_server.request(f"/workers/{web_db.workers['CNA']}/shifts?limit=1", method="HEAD")
    assert reply.status == 200 and reply.body == b""
    # Content-Length is the GET's (granian writes it for a GET from the body; for HEAD the app gives it).
    get = web_server.request(f"/workers/{web_db.workers['CNA']}/shifts?limit=1")
    assert int(reply.headers["content-length"]) == int(get.headers["content-length"]) == len(get.body) > 0


# --- 400 --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("from=yesterday", "invalid from"),
        ("to=2023-02-30", "invalid to"),
        ("from=2023-02-10&to=2023-02-01", "after start_to"),
        ("limit=0", "invalid limit"),
        ("limit=1001", "invalid limit"),
        ("limit=ten", "invalid limit"),
        ("limit=-5", "invalid limit"),
        ("limit=", "invalid limit"),
        ("group=week", "invalid group"),
        ("frm=2023-02-01", "unknown parameter"),
        ("limit=5&limit=6", "more than once"),
    ],
)
def test_malformed_parameters_are_400(web_server: Server, web_db: WebDatabase, query: str, detail: str):
    assert_problem(web_server.request(f"/workers/{web_db.workers['CNA']}/shifts?{query}"), 400, detail_has=detail)


@pytest.mark.parametrize("raw_id", ["abc", "0", "-3", "1.5", "2147483648", "99999999999", "%20"])
def test_malformed_worker_ids_are_400(web_server: Server, raw_id: str):
    assert_problem(web_server.request(f"/workers/{raw_id}/shifts"), 400, detail_has="invalid worker id")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        "%00%ff",
        _b64(b"[1,2]"),
        _b64(b'["2023-02-01T05:00:00", "x"]'),
        _b64(b'["2023-02-01T05:00:00", 99999999999]'),
        _b64(b'["2023-13-01T05:00:00", 5]'),
        _b64(b'{"start": 1}'),
        _b64(b"\xff\xfe"),
        _b64(b"[" * 1000),  # nested deeper than Python's recursion limit
        _b64(b'["2023-02-01T05:00:00", ' + b"[" * 5000 + b"]" * 5000 + b"]"),
        "A" * 20_000,
        _b64(b'["2023-02-01T05:00:00+05:00", 5]'),
    ],
)
def test_tampered_cursors_are_400_never_500(web_server: Server, web_db: WebDatabase, cursor: str):
    worker = web_db.workers["CNA"]
    assert_problem(web_server.request(f"/workers/{worker}/shifts?cursor={cursor}"), 400, detail_has="invalid cursor")


def test_a_moved_cursor_is_answered_and_a_truncated_one_is_400(web_server: Server, web_db: WebDatabase):
    worker = web_db.workers["CNA"]
    cursor = web_server.request(f"/workers/{worker}/shifts?limit=1").json()["next_cursor"]
    _, shift_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    # A well-formed cursor pointing elsewhere is a valid (if odd) position: a 200 from that point on.
    moved = _b64(json.dumps(["2023-02-15T00:00:00", shift_id]).encode())
    body = web_server.request(f"/workers/{worker}/shifts?cursor={moved}&limit=2").json()
    assert all(s["start"] >= "2023-02-15" for s in body["shifts"])
    assert_problem(web_server.request(f"/workers/{worker}/shifts?cursor={cursor[:-3]}"), 400)


# --- 404, 405 ---------------------------------------------------------------------------------------------


def test_unknown_worker_is_404(web_server: Server):
    assert_problem(web_server.request("/workers/2000000000/shifts"), 404, detail_has="worker 2000000000 does not exist")


@pytest.mark.parametrize("path", ["/nope", "/workers", "/workers/1", "/workers/1/shifts/", "/workers//shifts/x",
                                  "/healthz/", "/index.html", "/../etc/passwd"])
def test_unknown_routes_are_404(web_server: Server, path: str):
    assert_problem(web_server.request(path), 404, detail_has="no such resource")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", ["/workers/1/shifts", "/healthz", "/openapi.json", "/"])
def test_wrong_methods_are_405_with_allow(web_server: Server, method: str, path: str):
    reply = web_server.request(path, method=method)
    assert_problem(reply, 405, detail_has=f"{method} is not allowed")
    assert reply.headers["allow"] == "GET, HEAD"


# --- health, request ids, logs, role ----------------------------------------------------------------------


def test_healthz(web_server: Server):
    reply = web_server.request("/healthz")
    assert reply.status == 200 and reply.json() == {"status": "ok"}


def test_request_id_is_echoed_or_generated(web_server: Server):
    mine = web_server.request("/healthz", headers={"X-Request-Id": "trace-42.a:b"})
    assert mine.headers["x-request-id"] == "trace-42.a:b"
    generated = web_server.request("/healthz")
    other = web_server.request("/healthz")
    assert len(generated.headers["x-request-id"]) == 32
    assert generated.headers["x-request-id"] != other.headers["x-request-id"]
    # An id that could forge log lines or headers is replaced, not echoed.
    hostile = web_server.request("/healthz", headers={"X-Request-Id": 'x" y{}'})
    assert hostile.headers["x-request-id"] != 'x" y{}'


def test_access_log_is_json_lines_with_the_request_id(web_server: Server, web_db: WebDatabase):
    rid = "log-test-1"
    web_server.request(f"/workers/{web_db.workers['CNA']}/shifts?limit=2", headers={"X-Request-Id": rid})
    web_server.request("/workers/2000000000/shifts", headers={"X-Request-Id": "log-test-404"})
    web_server.request("/workers/x/shifts", headers={"X-Request-Id": "log-test-400"})
    lines = web_server.log_lines(until_request_id="log-test-400")  # every stderr line parses as JSON
    access = [line for line in lines if line.get("event") == "access" and line["request_id"] == rid]
    assert len(access) == 1
    entry = access[0]
    assert entry["method"] == "GET" and entry["path"] == f"/workers/{web_db.workers['CNA']}/shifts"
    assert entry["status"] == 200 and isinstance(entry["duration_ms"], float)
    db_errors = [line for line in lines if line.get("event") == "db_error" and line["request_id"] == "log-test-404"]
    assert [e["sqlstate"] for e in db_errors] == ["CP404"]
    assert not any("traceback" in line for line in lines), "user errors must not log tracebacks"
    # A 400 decided in Python is no database error.
    assert not [line for line in lines if line.get("event") == "db_error" and line["request_id"] == "log-test-400"]


def test_the_server_logs_in_as_the_api_role(web_server: Server, web_db: WebDatabase):
    web_server.request("/healthz")
    with psycopg.connect(web_db.url) as conn:
        users = {
            r[0]
            for r in conn.execute(
                "SELECT usename FROM pg_stat_activity WHERE application_name = 'carepg-web' AND datname = %s",
                (conn.info.dbname,),
            )
        }
    assert users == {"carepg_api"}


def test_openapi_is_served_from_the_repo_file(web_server: Server):
    from carepg.web.app import OPENAPI

    reply = web_server.request("/openapi.json")
    assert reply.status == 200 and reply.headers["content-type"] == "application/json"
    assert reply.body == OPENAPI.read_bytes()
    assert reply.json()["openapi"].startswith("3.1")


def test_calendar_page_is_served_with_its_assets(web_server: Server):
    page = web_server.request("/")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/calendar.js", "/calendar.css"):
        assert asset.encode() in page.body
        assert web_server.request(asset).status == 200


def test_a_second_server_on_the_same_port_refuses_to_start(web_server: Server, web_db: WebDatabase):
    """granian binds with SO_REUSEPORT: without the check a second server would start and split the traffic."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "carepg", "serve", "--port", str(web_server.port)],
        capture_output=True, text=True, timeout=60, env={**os.environ, "DATABASE_URL": web_db.url},
    )  # fmt: skip
    assert result.returncode == Conflict.exit_code, result.stderr
    assert result.stderr.splitlines() == [
        f"error: port {web_server.port} on 127.0.0.1 is in use by another server: stop it or pick another --port"
    ]
    assert web_server.request("/healthz").status == 200 and web_server.process.poll() is None
