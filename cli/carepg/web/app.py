"""The WSGI application: routes, problem+json errors, request ids and the access log.

    GET /workers/{id}/shifts?from=&to=&limit=&cursor=&group=date   one page of a worker's available shifts
    GET /workers/{id}/days?from=&to=&per_day=                        each day's count and first few (a calendar)
    POST /workers/{id}/claims  {"shift_id": n}                       claim a shift (201; 200 when already held)
    GET /workers/{id}/claims?from=&to=&limit=&cursor=                one page of the shifts the worker holds
    DELETE /workers/{id}/claims/{shift_id}                           give a held shift back (204)
    GET /healthz                                                     the database answers and the role may call
    GET /openapi.json                                                the API description (openapi.json beside this)
    GET /                                                            the calendar page (static/)

Every /workers/{id}/... route acts for one worker, so it needs a bearer token that may act for that worker
(`App.authorized`, auth.py): 401 without a token that verifies, 403 with another worker's; the verified identity
goes with the request's statement to PostgreSQL, whose functions check it again. The order in which a request
is judged: the route (404) and the method (405), the token (401), the worker id (400), the worker (403), then the
query and the body (400, 413), then the database. The others need no token.

One rule: every exception is either a CarepgError, which becomes an RFC 9457 problem+json body with its status
(errors.py decides it; SQLSTATEs are mapped there and only there), or a bug, which is logged with its request id
and its traceback and answered 500. Input is echoed only shortened (`shown()`), decoded as the UTF-8 it was sent in.

A page is the JSON body PostgreSQL builds (shifts.page_json: shifts.available_shifts_json()), passed through as
bytes; Python parses and validates the query string into typed values first, and the SQL is the named query in
sql/queries/shifts.sql with bound parameters. The hot path is kept short on purpose (PERFORMANCE.md, "HTTP"):
precomputed status lines and headers, a request id from a counter, the access line queued for a writer thread.
A claim or release is one function call on an autocommit connection: one request, one transaction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from http import HTTPStatus
from pathlib import Path
from time import perf_counter
from typing import Any
from urllib.parse import quote, unquote_plus

from .. import args, auth, shifts
from ..args import shown
from ..errors import (
    PRIVILEGE_HINT,
    CarepgError,
    InvalidInput,
    MethodNotAllowed,
    NotFound,
    PermissionDenied,
    ServerUnavailable,
    TooLarge,
    Unauthorized,
)
from . import logs
from .pool import Database, reusable_cursor

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
OPENAPI = HERE / "openapi.json"

log = logs.setup()

StartResponse = Callable[..., Any]
Headers = list[tuple[str, str]]

_WORKER_SHIFTS = re.compile(r"/workers/([^/]*)/shifts")
_WORKER_DAYS = re.compile(r"/workers/([^/]*)/days")
_WORKER_CLAIMS = re.compile(r"/workers/([^/]*)/claims")
_WORKER_CLAIM = re.compile(r"/workers/([^/]*)/claims/([^/]*)")
_METHOD = re.compile(r"[A-Z]{1,20}")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
SHIFT_PARAMS = ("from", "to", "limit", "cursor", "group")
CLAIM_PARAMS = ("from", "to", "limit", "cursor")
DAY_PARAMS = ("from", "to", "per_day")
DEFAULT_LIMIT = 50
DEFAULT_PER_DAY = 3
MAX_BODY = 1024  # bytes of a request body read, at most: {"shift_id": n} needs a few dozen
API_FUNCTION = "shifts.available_shifts_json()"  # what the data route calls (sql/queries/shifts.sql)

# The calendar page and its assets: a fixed table, so no request path ever reaches the file system.
_STATIC_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/calendar.js": ("calendar.js", "text/javascript; charset=utf-8"),
    "/calendar.css": ("calendar.css", "text/css; charset=utf-8"),
}
_NO_STORE = ("Cache-Control", "no-store")
_NOSNIFF = ("X-Content-Type-Options", "nosniff")


def _status_line(status: int) -> str:
    return f"{status} {HTTPStatus(status).phrase}"


_STATUS_LINES = {status: _status_line(status)
                 for status in (200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 500, 501, 502, 503)}
_PAGE_CSP = "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"


class Response:
    __slots__ = ("status", "body", "headers")

    def __init__(self, status: int, body: bytes, content_type: str | None, headers: Headers | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = [("Content-Type", content_type), *(headers or [])] if content_type else [*(headers or [])]


def json_response(status: int, payload: Any, *, content_type: str = "application/json") -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(status, body, content_type, [_NO_STORE])


def problem(err: CarepgError, path: str, request_id: str) -> Response:
    """RFC 9457 problem details for a CarepgError."""
    payload = {
        "type": f"urn:carepg:problem:{err.slug}",
        "title": err.title,
        "status": err.http_status,
        "detail": err.message,
        "instance": instance(path),
        "request_id": request_id,
    }
    if err.reason:  # which rule refused (claims: taken, overlap, documents, ...), for programs
        payload["reason"] = err.reason
    response = json_response(err.http_status, payload, content_type="application/problem+json")
    if err.retry_after is not None:
        response.headers.append(("Retry-After", str(err.retry_after)))
    if isinstance(err, MethodNotAllowed):
        response.headers.append(("Allow", ", ".join(err.allowed)))
    if isinstance(err, Unauthorized):
        response.headers.append(("WWW-Authenticate", err.challenge))
    return response


# --- what the client sent, as text to show -------------------------------------------------------------------

INSTANCE_MAX = 200


def bug_response(path: str, request_id: str) -> Response:
    """The 500 of a bug: no detail but where the log has it."""
    payload = {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": f"unexpected error; the server log has it under request id {request_id}",
        "instance": instance(path),
        "request_id": request_id,
    }
    return json_response(500, payload, content_type="application/problem+json")


def text(raw: str) -> str:
    """A WSGI string (the request's bytes decoded as latin-1, PEP 3333) as the text the client meant: UTF-8,
    with U+FFFD for bytes that are not."""
    if raw.isascii():
        return raw
    try:
        return raw.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:  # not from a conforming server: it is text already
        return raw


def instance(path: str) -> str:
    """The problem's `instance`: the request path as a URI reference (percent-encoded), shortened."""
    raw = path.encode("latin-1", "replace") if not path.isascii() else path.encode()
    encoded = quote(raw, safe="/:@!$&'()*+,;=-._~%")
    return encoded if len(encoded) <= INSTANCE_MAX else encoded[:INSTANCE_MAX] + "..."


class App:
    """The WSGI callable. `database` and `verifier` are injectable for tests; the defaults read their settings from
    the environment (pool.py, auth.Verifier.from_env), on first use."""

    def __init__(self, database: Database | None = None, verifier: auth.Verifier | None = None) -> None:
        self.db = database or Database()
        self._verifier = verifier
        self._files: dict[str, bytes] = {}

    # --- WSGI entry point ---------------------------------------------------------------------------------

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        began = perf_counter()
        method = environ.get("REQUEST_METHOD") or "GET"
        path = environ.get("PATH_INFO") or "/"
        offered = environ.get("HTTP_X_REQUEST_ID")
        request_id = offered if offered and _REQUEST_ID.fullmatch(offered) else logs.new_request_id()
        try:
            response = self.route(method, path, environ.get("QUERY_STRING") or "", environ)
        except CarepgError as err:
            if err.sqlstate is not None or isinstance(err, ServerUnavailable):
                # A database error: its SQLSTATE (None when the client side failed), never a traceback.
                level = log.warning if err.http_status >= 500 else log.info
                level(
                    "database error",
                    extra={"fields": {"event": "db_error", "sqlstate": err.sqlstate, "error": type(err).__name__,
                                      "detail": err.message, "request_id": request_id}},
                )
            response = problem(err, path, request_id)
        except Exception:  # a bug: the one case that deserves a traceback in the log
            log.exception("unhandled error", extra={"fields": {"event": "bug", "request_id": request_id}})
            response = bug_response(path, request_id)
        body = response.body
        headers = [*response.headers, ("X-Request-Id", request_id), _NOSNIFF]
        # granian writes Content-Length for a body given as a list, and each header costs it measurably (PERFORMANCE.md,
        # "HTTP"); other servers, and HEAD (no body), get ours. A 204 has none at all (RFC 9110).
        if response.status != 204 and (method == "HEAD" or environ.get("SERVER_SOFTWARE") != "Granian"):
            headers.append(("Content-Length", str(len(body))))
        start_response(_STATUS_LINES.get(response.status) or _status_line(response.status), headers)
        logs.access(method, path, response.status, perf_counter() - began, request_id)
        return [b"" if method == "HEAD" else body]

    # --- routing ------------------------------------------------------------------------------------------

    def route(self, method: str, path: str, query: str, environ: dict | None = None) -> Response:
        match = _WORKER_SHIFTS.fullmatch(path)
        if match:
            _only_get(method, path)
            return self.worker_shifts(match.group(1), query, environ or {})
        claims = self.claim_route(method, path, query, environ or {})
        if claims is not None:
            return claims
        if path == "/healthz":
            _only_get(method, path)
            return self.healthz()
        if path == "/openapi.json":
            _only_get(method, path)
            return Response(200, self._file(OPENAPI), "application/json")
        if path in _STATIC_FILES:
            _only_get(method, path)
            name, content_type = _STATIC_FILES[path]
            headers = [("Content-Security-Policy", _PAGE_CSP)] if name.endswith(".html") else []
            return Response(200, self._file(STATIC / name), content_type, headers)
        raise NotFound(f"no such resource: {shown(text(path))} (see /openapi.json for the API)")

    def _file(self, path: Path) -> bytes:
        if path not in self._files:
            self._files[path] = path.read_bytes()
        return self._files[path]

    def authorized(self, raw_id: str, query: str, environ: dict) -> tuple[int, shifts.Acting]:
        """The worker a /workers/{id}/... route names and the identity to act as, once the request's bearer token
        may act for that worker: 401 (no token that verifies), 400 (a malformed id), 403 (another worker's).
        Every worker route calls this first; a new one (an event stream) calls it the same way."""
        verifier = self._verifier
        if verifier is None:
            verifier = self._verifier = auth.Verifier.from_env()
        identity = verifier.identify(environ.get("HTTP_AUTHORIZATION"), query)
        worker_id = parse_worker_id(raw_id)
        identity.authorize(worker_id)
        return worker_id, identity.settings

    # --- handlers -----------------------------------------------------------------------------------------

    def healthz(self) -> Response:
        def check(conn) -> bool:
            if not conn.execute(shifts.QUERIES["healthz"]).fetchone()[0]:
                raise PermissionDenied(f"the database answers, but this role may not execute {API_FUNCTION}: "
                                       f"{PRIVILEGE_HINT}")  # fmt: skip
            return True

        self.db.run(check)  # the same retries and healing as the data route
        return json_response(200, {"status": "ok"})

    def worker_shifts(self, raw_id: str, query: str, environ: dict) -> Response:
        worker_id, acting = self.authorized(raw_id, query, environ)
        params = parse_query(query)
        window = args.window(params.get("from"), params.get("to"), ("from", "to"))
        limit = parse_limit(params.get("limit"))
        group = params.get("group")
        if group is not None and group != "date":
            raise InvalidInput(f"invalid group {shown(group)}: the only grouping is group=date")
        after = args.page_cursor(params.get("cursor"))  # a tampered cursor is a 400 even while the database is away
        # The body as PostgreSQL built it, passed through undecoded (shifts.available_shifts_json).
        body = self.db.run(
            lambda conn: shifts.page_json(reusable_cursor(conn), worker_id, limit=limit, after=after, acting=acting,
                                          **window)
        )
        if group == "date":
            return json_response(200, group_by_date(json.loads(body)))
        return Response(200, body, "application/json", [_NO_STORE])

    # --- the write path and the calendar's days -------------------------------------------------------------

    def claim_route(self, method: str, path: str, query: str, environ: dict) -> Response | None:
        """The claims and days routes; None when the path is none of them."""
        match = _WORKER_CLAIM.fullmatch(path)
        if match:
            _only(method, path, ("DELETE",))
            return self.release(match.group(1), match.group(2), query, environ)
        match = _WORKER_CLAIMS.fullmatch(path)
        if match:
            _only(method, path, ("GET", "HEAD", "POST"))
            if method == "POST":
                return self.claim(match.group(1), query, environ)
            return self.worker_claims(match.group(1), query, environ)
        match = _WORKER_DAYS.fullmatch(path)
        if match:
            _only_get(method, path)
            return self.worker_days(match.group(1), query, environ)
        return None

    def claim(self, raw_id: str, query: str, environ: dict) -> Response:
        worker_id, acting = self.authorized(raw_id, query, environ)
        parse_query(query, ())
        shift_id = parse_claim_body(environ)
        result = self.db.run(lambda conn: shifts.claim(conn, worker_id, shift_id, acting))
        response = json_response(201 if result.newly_claimed else 200, shifts.shift_json(result.shift))
        response.headers.append(("Location", f"/workers/{worker_id}/claims/{shift_id}"))
        return response

    def release(self, raw_worker: str, raw_shift: str, query: str, environ: dict) -> Response:
        worker_id, acting = self.authorized(raw_worker, query, environ)
        shift_id = parse_id(raw_shift, "shift id")
        parse_query(query, ())
        self.db.run(lambda conn: shifts.release(conn, worker_id, shift_id, acting))
        return Response(204, b"", None, [_NO_STORE])

    def worker_claims(self, raw_id: str, query: str, environ: dict) -> Response:
        worker_id, acting = self.authorized(raw_id, query, environ)
        params = parse_query(query, CLAIM_PARAMS)
        window = args.window(params.get("from"), params.get("to"), ("from", "to"))
        limit = parse_limit(params.get("limit"))
        after = args.page_cursor(params.get("cursor"))
        page = self.db.run(
            lambda conn: shifts.claims_page(conn, worker_id, limit=limit, after=after, acting=acting, **window)
        )
        return json_response(200, page.as_json())

    def worker_days(self, raw_id: str, query: str, environ: dict) -> Response:
        worker_id, acting = self.authorized(raw_id, query, environ)
        params = parse_query(query, DAY_PARAMS)
        window = args.window(params.get("from"), params.get("to"), ("from", "to"))
        if window["start_from"] is None or window["start_to"] is None:
            raise InvalidInput("from and to are both required: the days of a month or a week, at most 62 days")
        per_day = parse_per_day(params.get("per_day"))
        days = self.db.run(lambda conn: shifts.by_day(conn, worker_id, per_day=per_day, acting=acting, **window))
        body = {
            "worker_id": worker_id,
            "days": [
                {"date": d["date"].isoformat(), "available": d["available"],
                 "shifts": [shifts.shift_json(s) for s in d["shifts"]], "next_cursor": d["next_cursor"]}
                for d in days
            ],
        }  # fmt: skip
        return json_response(200, body)


# --- parsing the request ----------------------------------------------------------------------------------


def _only_get(method: str, path: str) -> None:
    _only(method, path, ("GET", "HEAD"))


def _only(method: str, path: str, allowed: tuple[str, ...]) -> None:
    if method not in allowed:
        named = method if _METHOD.fullmatch(method) else shown(text(method), 20)
        uses = " or ".join(m for m in allowed if m != "HEAD")
        raise MethodNotAllowed(f"{named} is not allowed on {shown(text(path))}: use {uses}", allowed)


def parse_worker_id(raw: str) -> int:
    return parse_id(raw, "worker id")


def parse_id(raw: str, what: str) -> int:
    return args.identifier(text(raw), what)


def parse_query(query: str, allowed: tuple[str, ...] = SHIFT_PARAMS) -> dict[str, str]:
    """The query string as a dict (`+` and %-escapes decoded as UTF-8, like parse_qsl); unknown or repeated
    parameters are a 400 (a typo should not pass silently)."""
    params: dict[str, str] = {}
    if not query:
        return params
    for part in text(query).split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if "%" in part or "+" in part:
            name, value = unquote_plus(name), unquote_plus(value)
        if name not in allowed:
            raise InvalidInput(f"unknown parameter {shown(name)}: "
                               + (f"use {', '.join(allowed)}" if allowed else "this request takes none"))
        if name in params:
            raise InvalidInput(f"parameter {name!r} given more than once")
        params[name] = value
    return params


def parse_limit(raw: str | None) -> int:
    return DEFAULT_LIMIT if raw is None else args.limit(raw)


def parse_per_day(raw: str | None) -> int:
    return DEFAULT_PER_DAY if raw is None else args.per_day(raw)


def parse_claim_body(environ: dict) -> int:
    """The shift id of a claim's body, exactly {"shift_id": n}; anything else is a 400, and at most MAX_BODY bytes
    are read whatever the client sends or says it sends."""
    content_type = environ.get("CONTENT_TYPE") or ""
    if content_type.split(";", 1)[0].strip().lower() != "application/json":
        raise InvalidInput(f'the body must be JSON, {{"shift_id": <id>}}, sent as Content-Type: application/json '
                           f"(got {shown(text(content_type)) if content_type else 'none'})")  # fmt: skip
    declared = environ.get("CONTENT_LENGTH") or ""
    if declared and not declared.isdigit():
        raise InvalidInput(f"invalid Content-Length {shown(text(declared), 20)}: it must be a number of bytes")
    too_large = f"the body must be at most {MAX_BODY} bytes of JSON, like {{\"shift_id\": 5}}"
    if declared and int(declared) > MAX_BODY:
        raise TooLarge(too_large)  # refused without reading it
    stream = environ.get("wsgi.input")
    raw = stream.read(int(declared) if declared else MAX_BODY + 1) if stream is not None else b""
    if len(raw) > MAX_BODY:
        raise TooLarge(too_large)

    def unique_keys(pairs: list[tuple[str, Any]]) -> dict:
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise ValueError("a key appears twice")
        return dict(pairs)

    try:
        document = json.loads(raw, object_pairs_hook=unique_keys)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidInput('the body is not a JSON object like {"shift_id": 5}') from None
    if not isinstance(document, dict) or set(document) != {"shift_id"}:
        keys = ", ".join(shown(k, 40) for k in list(document)[:5]) if isinstance(document, dict) else "not an object"
        raise InvalidInput(f'the body must be exactly {{"shift_id": <id>}} (got {keys or "no key"})')
    shift_id = document["shift_id"]
    if not isinstance(shift_id, int) or isinstance(shift_id, bool) or not 1 <= shift_id <= args.INT32_MAX:
        raise InvalidInput(f"invalid shift_id {json.dumps(shift_id)[:40]}: it must be an integer from 1 to "
                           f"{args.INT32_MAX}")
    return shift_id


def group_by_date(body: dict) -> dict:
    """The same page with its shifts grouped by the calendar date they start on (shifts stay in order)."""
    dates: list[dict] = []
    for shift in body["shifts"]:
        day = shift["start"][:10]
        if not dates or dates[-1]["date"] != day:
            dates.append({"date": day, "shifts": []})
        dates[-1]["shifts"].append(shift)
    return {"worker_id": body["worker_id"], "dates": dates, "next_cursor": body["next_cursor"]}


def make_app(database: Database | None = None) -> App:
    return App(database)


app = make_app()

__all__ = ["App", "app", "make_app"]
