"""What `carepg serve` runs: an ASGI app on granian's event loop, in front of the WSGI app.

The event stream (GET /workers/{id}/events, events.py) is a coroutine here, so a process holds thousands of open
streams with one database connection. Every other route is the WSGI app (app.py): the same code, the same answers,
and it still runs under any WSGI server (without the stream route, which needs this front).

Where the WSGI app runs: a read (GET, HEAD) runs right here, on the event loop's thread, when one of the pool's
connections is idle; everything else, and a read that would wait for a connection (or make one), runs in a pool of
threads. Handing a request to a thread and back costs the loop two wake-ups and a GIL hand-off each way: with every
route in the threads, full pages did 0.81x the WSGI yardstick's req/s at 2.4x its p99 (PERFORMANCE.md, "HTTP").
A read never waits for a lock carepg or the application takes (the README's lock model), so it holds the loop for
the time of its query, bounded by the statement timeout; a claim or a release may wait for a worker's or a
facility's lock, and waits in its thread.

ASGI rather than granian's RSGI: granian's ASGI `send` waits while the client's socket is full, so a client that
stops reading stops the stream's writes (and is dropped after events.SEND_TIMEOUT); its RSGI stream transport
buffers whatever it is given, without bound.

A request body is read here, at most app.MAX_BODY + 1 bytes whatever the client sends (a declared length above
that is not read at all: the app refuses it from the header).
"""

from __future__ import annotations

import asyncio
import io
import os
import re
from concurrent.futures import ThreadPoolExecutor
from time import perf_counter

from .. import args
from ..errors import CarepgError, MethodNotAllowed
from . import events, logs, pool
from .app import (
    _NOSNIFF,
    _REQUEST_ID,
    MAX_BODY,
    bug_response,
    parse_query,
    problem,
    shown,
)
from .app import app as wsgi_app

log = logs.setup()

_EVENTS = re.compile(r"/workers/([^/]*)/events")
_STREAM_HEADERS = [("Content-Type", "text/event-stream"), ("Cache-Control", "no-store"), ("X-Accel-Buffering", "no"),
                   _NOSNIFF]  # fmt: skip
_threads: ThreadPoolExecutor | None = None
_threads_pid = 0


def _pool() -> ThreadPoolExecutor:
    """The threads the WSGI app runs in: CAREPG_WEB_POOL_SIZE of them, one per database connection."""
    global _threads, _threads_pid
    if _threads is None or _threads_pid != os.getpid():
        _threads = ThreadPoolExecutor(int(os.environ.get("CAREPG_WEB_POOL_SIZE") or 4), thread_name_prefix="wsgi")
        _threads_pid = os.getpid()
    return _threads


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return  # no websockets here
    match = _EVENTS.fullmatch(scope["path"])
    if match:
        await _events(scope, receive, send, match.group(1))
        return
    environ = await _environ(scope, receive)
    answer = _read_in_place(environ) if scope["method"] in ("GET", "HEAD") else None
    if answer is None:
        answer = await asyncio.get_running_loop().run_in_executor(_pool(), _call_wsgi, environ)
    status, headers, body = answer
    await send({"type": "http.response.start", "status": status,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _read_in_place(environ: dict) -> tuple[int, list, bytes] | None:
    """The answer to a read, made on this thread with an idle connection; None when there is none to borrow (the
    request is then run in a thread, from the start: nothing was sent or written)."""
    try:
        with pool.without_waiting():
            return _call_wsgi(environ)
    except pool.WouldWait:
        return None


def _call_wsgi(environ: dict) -> tuple[int, list, bytes]:
    answer: list = []

    def start_response(status: str, headers: list, exc_info=None) -> None:
        answer[:] = [int(status[:3]), headers]

    body = b"".join(wsgi_app(environ, start_response))
    return answer[0], answer[1], body


def _headers(scope) -> dict[str, str]:
    """Request headers as WSGI sees them (PEP 3333: bytes read as latin-1; repeated ones joined with commas)."""
    found: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        found[name] = f"{found[name]},{value}" if name in found else value
    return found


async def _environ(scope, receive) -> dict:
    environ = {
        "REQUEST_METHOD": scope["method"],
        "PATH_INFO": scope["path"],
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.url_scheme": scope.get("scheme", "http"),
    }
    for name, value in _headers(scope).items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key] = value
    declared = environ.get("CONTENT_LENGTH") or ""
    body = b""
    if not (declared.isdigit() and int(declared) > MAX_BODY):
        while len(body) <= MAX_BODY:
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
    environ["wsgi.input"] = io.BytesIO(body[: MAX_BODY + 1])
    return environ


async def _events(scope, receive, send, raw_worker: str) -> None:
    began = perf_counter()
    headers = _headers(scope)
    offered = headers.get("x-request-id")
    request_id = offered if offered and _REQUEST_ID.fullmatch(offered) else logs.new_request_id()
    status = 200
    try:
        if scope["method"] != "GET":
            raise MethodNotAllowed(f"{scope['method']} is not allowed on {shown(scope['path'])}", ("GET",))
        query_string = scope["query_string"].decode("latin-1")
        # The same check as every other worker route: 401, 400 (the id), 403, before anything else is read.
        worker_id, _ = wsgi_app.authorized(raw_worker, query_string,
                                           {"HTTP_AUTHORIZATION": headers.get("authorization")})  # fmt: skip
        query = parse_query(query_string, ("from", "to"))
        window = args.window(query.get("from"), query.get("to"), ("from", "to"))
        after = events.parse_last_event_id(headers.get("last-event-id"))
        sub = events.Subscriber(worker_id, window["start_from"], window["start_to"], after)
        relay = events.relay_for(pool.Settings.from_env())
        status = await events.stream(receive, send, sub, relay, [*_STREAM_HEADERS, ("X-Request-Id", request_id)])
    except CarepgError as err:
        response = problem(err, scope["path"], request_id)
        status = response.status
        await _respond(send, response.status, [*response.headers, ("X-Request-Id", request_id), _NOSNIFF],
                       response.body)  # fmt: skip
    except Exception:  # a bug: logged with its traceback, answered 500 (if nothing was sent yet)
        log.exception("unhandled error", extra={"fields": {"event": "bug", "request_id": request_id}})
        status = 500
        response = bug_response(scope["path"], request_id)
        try:
            await _respond(send, 500, [*response.headers, ("X-Request-Id", request_id)], response.body)
        except Exception:  # noqa: BLE001 - the stream had started: closing it is all there is left to do
            pass
    logs.access(scope["method"], scope["path"], status, perf_counter() - began, request_id)


async def _respond(send, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    headers = [*headers, ("Content-Length", str(len(body)))]
    await send({"type": "http.response.start", "status": status,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})
