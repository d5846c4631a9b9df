"""The WSGI app under hostile input, called in process with generated environs (hypothesis).

Whatever a client sends (paths, methods, query strings, headers, cursors, huge and nested values, odd encodings,
bodies), the answer is a documented status, never a 500; every error is a problem+json body; nothing echoed
makes an answer large. A 500 would mean an exception that is not a CarepgError: a bug. The database is real
(the seeded HTTP database, as carepg_api), so valid requests reach the SQL too.
"""

from __future__ import annotations

import base64
import io
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carepg.auth import Verifier
from carepg.web.app import _REQUEST_ID as REQUEST_ID
from carepg.web.app import OPENAPI, App
from carepg.web.pool import Database, Settings
from web_fixtures import TEST_KEY, WebDatabase, token

ERROR_BODY_MAX = 2048
PAGE_BODY_MAX = 1000 * 400  # a page of 1000 shifts

DOCUMENTED = [  # (path template as a regex, the statuses it documents) from openapi.json
    (re.compile(re.sub(r"\\\{[^}]*\\\}", "[^/]*", re.escape(path))),
     {int(code) for op in item.values() for code in op["responses"]})
    for path, item in json.loads(OPENAPI.read_text())["paths"].items()
]  # fmt: skip


def documented(path: str) -> set[int]:
    """The statuses documented for a path; an unknown path is a 404 (the calendar's assets are the page's)."""
    if path in ("/calendar.js", "/calendar.css"):
        path = "/"
    for template, statuses in DOCUMENTED:
        if template.fullmatch(path):
            return statuses
    return {404}


@pytest.fixture(scope="module")
def app(web_db: WebDatabase):
    database = Database(lambda: Settings(url=web_db.url.replace("postgres@", "carepg_api@")))
    yield App(database, Verifier(TEST_KEY))
    database.close()


def wsgi_str(text: str) -> str:
    """What a PEP 3333 server hands over for text the client sent as UTF-8: the bytes, decoded as latin-1."""
    return text.encode("utf-8", "surrogatepass").decode("latin-1")


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


anything = st.text(max_size=40)
huge = st.integers(1000, 70_000).map(lambda n: "9" * n) | st.integers(1000, 70_000).map(lambda n: "é" * n)
worker_ids = st.one_of(
    st.sampled_from(["101", "102", "103", "1", "50", "2000000000", "0", "-1", "2147483648", "99999999999",
                     "1.5", "", "%31", "١٠١", "１０１", "101 ", "0x65", "1e3"]),  # fmt: skip
    st.integers(-(2**40), 2**40).map(str),
    anything,
    huge,
)
cursors = st.one_of(
    st.just(b64(b'["2023-02-10T05:00:00.001000",501295]')),
    st.integers(1, 20_000).map(lambda n: b64(b"[" * n)),
    st.binary(max_size=200).map(b64),
    anything,
    huge,
)
timestamps = st.sampled_from(["2023-02-10", "2023-02-10T05:00:00", "now", "", "2023-02-30", "yesterday",
                              "2023-02-10T05:00:00+14:00", "0001-01-01T00:00:00-23:59", "9999-12-31T23:59:59+23:59",
                              "２０２３-02-10"]) | anything | huge  # fmt: skip
limits = st.sampled_from(["1", "50", "1000", "1001", "0", "-1", "", "1e2", "五十"]) | anything | huge
values = {"from": timestamps, "to": timestamps, "limit": limits, "cursor": cursors,
          "group": st.sampled_from(["date", "week", ""]) | anything}  # fmt: skip


@st.composite
def queries(draw) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 6))):
        name = draw(st.sampled_from(list(values)) | st.sampled_from(["frm", "x", "", "limit[]", "%00"]) | anything)
        value = draw(values.get(name, anything))
        parts.append(name if draw(st.booleans()) and not value else f"{name}={value}")
    query = "&".join(parts)
    return wsgi_str(query) if draw(st.booleans()) else query


paths = st.one_of(
    worker_ids.map(lambda w: f"/workers/{w}/shifts"),
    st.sampled_from(["/", "/healthz", "/openapi.json", "/calendar.js", "/calendar.css", "/nope", "/workers",
                     "/workers/101", "/workers/101/shifts/", "//workers/101/shifts", "/../etc/passwd", "",
                     "/healthz/", "/%2e%2e/", "/index.html"]),  # fmt: skip
    anything.map(lambda t: "/" + t),
    huge.map(lambda t: "/" + t),
)
methods = st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "get", ""]) | anything
header_values = anything | huge | st.binary(max_size=64).map(lambda b: b.decode("latin-1"))
# A worker's own token, staff's, another worker's, and anything at all (the tokens' own property tests are in
# tests/test_web_auth.py): requests that pass authentication must reach the routes' parsing too.
authorizations = st.one_of(
    st.sampled_from([101, 102, 2000000000]).map(lambda w: f"Bearer {token(w)}"),
    st.just(f"Bearer {token(staff=True)}"),
    st.sampled_from(["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "bearer x.y.z", "Bearer a.b.c d"]),
    anything.map(lambda t: "Bearer " + t),
    header_values,
)


@st.composite
def environs(draw) -> dict:
    path = draw(paths)
    environ = {
        "REQUEST_METHOD": draw(methods),
        "PATH_INFO": wsgi_str(path) if draw(st.booleans()) else path,
        "QUERY_STRING": draw(queries()),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(draw(st.binary(max_size=2000))),
    }
    for name in draw(st.lists(st.sampled_from(["HTTP_X_REQUEST_ID", "HTTP_ACCEPT", "HTTP_HOST", "CONTENT_TYPE",
                                               "CONTENT_LENGTH", "HTTP_COOKIE", "HTTP_X_FORWARDED_FOR"]),
                              max_size=4, unique=True)):  # fmt: skip
        environ[name] = draw(header_values | st.just("trace-1.a:b"))
    if draw(st.integers(0, 9)):  # mostly with an Authorization header
        environ["HTTP_AUTHORIZATION"] = draw(authorizations)
    for _ in range(draw(st.integers(0, 2))):  # a key may be missing, as from a careless server or test client
        environ.pop(draw(st.sampled_from(["REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "wsgi.input"])), None)
    return environ


def call(app: App, environ: dict) -> tuple[int, list[tuple[str, str]], bytes]:
    seen: dict = {}
    body = b"".join(app(environ, lambda status, headers: seen.update(status=status, headers=headers)))
    return int(seen["status"].split()[0]), seen["headers"], body


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(environ=environs())
def test_any_request_gets_a_documented_answer_never_a_500(app: App, environ: dict):
    path = environ.get("PATH_INFO") or "/"
    method = environ.get("REQUEST_METHOD") or "GET"
    status, headers, body = call(app, dict(environ))
    assert status != 500, body
    assert status in documented(path), (status, path, body[:300])
    names = dict((k.lower(), v) for k, v in headers)
    assert len(names) == len(headers)  # no header twice
    for name, value in headers:  # what granian will put on the wire
        value.encode("latin-1")
        assert "\r" not in value and "\n" not in value and len(value) <= 256, (name, value[:80])
    offered = environ.get("HTTP_X_REQUEST_ID") or ""
    if REQUEST_ID.fullmatch(offered):
        assert names["x-request-id"] == offered
    else:
        assert len(names["x-request-id"]) == 32
    if method == "HEAD":
        assert body == b""
        return
    assert int(names["content-length"]) == len(body)
    if status >= 400:
        assert names["content-type"] == "application/problem+json"
        assert len(body) <= ERROR_BODY_MAX, (len(body), body[:200])
        problem = json.loads(body)
        assert problem["status"] == status and problem["type"].startswith("urn:carepg:problem:")
        assert set(problem) - {"reason"} == {"type", "title", "status", "detail", "instance", "request_id"}
        assert ("reason" in problem) == (status in (401, 403)), problem  # 403: only not_your_worker (no claims)
        assert problem["request_id"] == names["x-request-id"]
        if status == 405:
            assert names["allow"] == "GET, HEAD"
        if status == 401:
            assert names["www-authenticate"].startswith('Bearer realm="carepg"')
    else:
        assert len(body) <= PAGE_BODY_MAX


def test_a_long_path_is_echoed_short_and_non_ascii_ids_readable(app: App):
    status, _, body = call(app, {"REQUEST_METHOD": "GET", "PATH_INFO": "/" + "x" * 65536, "QUERY_STRING": ""})
    assert status == 404 and len(body) < 1000
    problem = json.loads(body)
    assert len(problem["detail"]) < 200 and len(problem["instance"]) < 250
    staff = f"Bearer {token(staff=True)}"
    status, _, body = call(app, {"REQUEST_METHOD": "GET", "PATH_INFO": wsgi_str("/workers/١٠١/shifts"),
                                 "HTTP_AUTHORIZATION": staff})  # fmt: skip
    problem = json.loads(body)
    assert status == 400 and "'١٠١'" in problem["detail"]  # what the client sent, not mojibake
    assert problem["instance"] == "/workers/%D9%A1%D9%A0%D9%A1/shifts"
    status, _, body = call(app, {"REQUEST_METHOD": "GET", "PATH_INFO": "/workers/101/shifts",
                                 "QUERY_STRING": wsgi_str("grüppe=1"), "HTTP_AUTHORIZATION": staff})  # fmt: skip
    assert status == 400 and "'grüppe'" in json.loads(body)["detail"]
