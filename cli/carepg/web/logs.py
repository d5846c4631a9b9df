"""JSON-lines logging on stderr: one object per line, so logs can be grepped and parsed alike.

The access log has a fast path of its own (`access()`): one line per request, the same JSON shape the formatter
writes, formatted directly and written in one call, without a LogRecord (a quarter of the app's own time per
request went into the logging machinery). Request ids come from a per-process random prefix and a counter.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import os
import sys
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


def _reseed() -> None:
    global _prefix, _counter
    _prefix, _counter = os.urandom(8).hex(), itertools.count()


_reseed()
os.register_at_fork(after_in_child=_reseed)  # each worker process has its own prefix


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


def access(method: str, path: str, status: int, seconds: float, request_id: str) -> None:
    """The access line: {"ts", "level", "logger", "msg", "event": "access", "method", "path", "status",
    "duration_ms", "request_id"}, as JsonLines would format that record, on the carepg.web handler's stream."""
    if not _ACCESS.isEnabledFor(logging.INFO) or _ACCESS.disabled:
        return
    if len(path) > PATH_MAX:
        path = path[:PATH_MAX] + "..."
    line = (f'{{"ts": "{_timestamp(time.time())}", "level": "info", "logger": "carepg.web", "msg": "request", '
            f'"event": "access", "method": {_encode(method)}, "path": {_encode(path)}, "status": {status}, '
            f'"duration_ms": {seconds * 1000:.3f}, "request_id": {_encode(request_id)}}}\n')  # fmt: skip
    for handler in _ACCESS.handlers:
        stream = getattr(handler, "stream", None)
        if stream is not None:
            stream.write(line)  # one write of a whole line; stderr is line-buffered
            stream.flush()
