"""JSON-lines logging on stderr: one object per line, so logs can be grepped and parsed alike.

The access log has a path of its own (`access()`): one line per request, the same JSON shape JsonLines writes,
but the request only queues its fields; a writer thread formats what has queued and writes it in one call every
FLUSH_SECONDS (and at exit). Formatting and writing a line on the request's own path cost ~15 us of CPU per
request in the server (cold caches between database round trips; ~2 us in a warm loop), the logging machinery
more. The price: a line appears up to FLUSH_SECONDS late, and a process killed hard loses that much of it.
Request ids come from a per-process random prefix and a counter.
"""

from __future__ import annotations

import atexit
import collections
import datetime as dt
import itertools
import json
import logging
import multiprocessing.util
import os
import sys
import threading
import time

LOGGER_NAMES = ("carepg.web", "psycopg")


class JsonLines(logging.Formatter):
    """`{"ts", "level", "logger", "msg", ...fields}`; a traceback only when the record carries one (bugs)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def setup() -> logging.Logger:
    """Send carepg.web's and psycopg's records to stderr as JSON lines (idempotent)."""
    for name in LOGGER_NAMES:
        logger = logging.getLogger(name)
        if not any(isinstance(h.formatter, JsonLines) for h in logger.handlers):
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(JsonLines())
            logger.addHandler(handler)
        # Of psycopg's own records only warnings matter here.
        logger.setLevel(logging.INFO if name == "carepg.web" else logging.WARNING)
        logger.propagate = False
    return logging.getLogger("carepg.web")


_ACCESS = logging.getLogger("carepg.web")
_encode = json.encoder.encode_basestring  # the C string encoder json.dumps(..., ensure_ascii=False) uses
PATH_MAX = 2000  # characters of a path written to the log
FLUSH_SECONDS = 0.05
QUEUE_MAX = 100_000  # lines waiting at most (~20 MB): a stderr nobody reads must not grow memory without bound


def _reseed() -> None:
    global _prefix, _counter, _queue, _writer, _dropped
    _prefix, _counter = os.urandom(8).hex(), itertools.count()
    _queue, _writer, _dropped = collections.deque(), None, 0


_reseed()
os.register_at_fork(after_in_child=_reseed)  # each worker process has its own prefix, queue and writer


def new_request_id() -> str:
    """32 hex digits, unique per process (random prefix) and per request (counter)."""
    return f"{_prefix}{next(_counter):016x}"


_second = (0, "")


def _timestamp(now: float) -> str:
    """As JsonLines writes it (UTC, milliseconds); the date and time part is formatted once per second."""
    global _second
    whole = int(now)
    if _second[0] != whole:
        _second = (whole, dt.datetime.fromtimestamp(whole, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{_second[1]}.{int((now - whole) * 1000):03d}+00:00"


_METHODS = {m: _encode(m) for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")}


def access(method: str, path: str, status: int, seconds: float, request_id: str) -> None:
    """Queue the access line of a request: {"ts", "level", "logger", "msg", "event": "access", "method", "path",
    "status", "duration_ms", "request_id"}, as JsonLines would format that record."""
    if _ACCESS.disabled or not _ACCESS.isEnabledFor(logging.INFO):
        return
    global _dropped
    if len(_queue) >= QUEUE_MAX:
        _dropped += 1  # the writer is stuck (stderr blocked): count what is lost, say so when it moves again
        return
    _queue.append((time.time(), method, path, status, seconds, request_id))
    if _writer is None:
        _start_writer()


def _start_writer() -> None:
    global _writer
    with _writer_lock:
        if _writer is None:
            _writer = threading.Thread(target=_write_loop, name="carepg-access-log", daemon=True)
            _writer.start()
            # What is queued at exit is written too: atexit for a plain interpreter (registered at import), and
            # multiprocessing's finalizers for a worker process such as granian's, which leaves through
            # os._exit and skips atexit (registered here, in the worker: its registry starts empty).
            multiprocessing.util.Finalize(None, flush_access, exitpriority=100)


_writer_lock = threading.Lock()


def _write_loop() -> None:
    while True:
        time.sleep(FLUSH_SECONDS)
        flush_access()


def flush_access() -> None:
    """Format and write every queued access line now (the writer thread does it every FLUSH_SECONDS)."""
    lines = []
    queue = _queue
    while queue:
        try:
            now, method, path, status, seconds, request_id = queue.popleft()
        except IndexError:  # another flush took the last one
            break
        if len(path) > PATH_MAX:
            path = path[:PATH_MAX] + "..."
        # request_id is ours or matched [A-Za-z0-9._:-]{1,128}: it needs no escaping.
        lines.append(f'{{"ts": "{_timestamp(now)}", "level": "info", "logger": "carepg.web", "msg": "request", '
                     f'"event": "access", "method": {_METHODS.get(method) or _encode(method)}, '
                     f'"path": {_encode(path)}, "status": {status}, "duration_ms": {seconds * 1000:.3f}, '
                     f'"request_id": "{request_id}"}}\n')  # fmt: skip
    global _dropped
    if _dropped:
        dropped, _dropped = _dropped, 0
        lines.append(f'{{"ts": "{_timestamp(time.time())}", "level": "warning", "logger": "carepg.web", '
                     f'"msg": "access lines dropped", "event": "access_dropped", "count": {dropped}}}\n')  # fmt: skip
    if not lines:
        return
    text = "".join(lines)
    for handler in _ACCESS.handlers:
        stream = getattr(handler, "stream", None)
        if stream is not None:
            with handler.lock:  # not interleaved with the records logging writes
                stream.write(text)
                stream.flush()


atexit.register(flush_access)
