"""Running the app in production: granian's configuration for `carepg serve`.

granian serves the ASGI front (front.py): the event stream as coroutines on its event loop, every other route by
the WSGI app (app.py) in `threads` threads per worker. The WSGI app alone runs under any WSGI server; this and
front.py are the places that know granian.
"""

from __future__ import annotations

import errno
import os
import socket

from .. import cluster, db, shifts
from ..errors import CarepgError, Conflict, InvalidInput
from . import logs, pool

API_ROLE = "carepg_api"  # sql/roles.sql

# granian's own log records, as JSON lines on stderr like the app's (logs.py).
_LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "carepg.web.logs.JsonLines"}},
    "handlers": {"stderr": {"formatter": "json", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"}},
    "loggers": {"_granian": {"handlers": ["stderr"], "level": "INFO", "propagate": False}},
}


def api_database_url(role: str) -> str:
    """The URL the app uses: CAREPG_WEB_DATABASE_URL as it is, else carepg's URL logged in as `role`."""
    from psycopg.conninfo import make_conninfo

    explicit = os.environ.get("CAREPG_WEB_DATABASE_URL")
    if explicit:
        return explicit
    url = db.resolve_url(start=True)
    return make_conninfo(url, user=role) if role else url


def ensure_port_free(host: str, port: int) -> None:
    """Refuse a port another server listens on. granian binds with SO_REUSEPORT, so without this check a second
    `carepg serve` (or any server that also sets it) on the same port would start and take half the traffic.
    The probe binds without SO_REUSEPORT, which fails while anything listens there; it is closed again before
    granian binds (a server starting in between is not caught)."""
    try:
        refused = cluster.try_bind(host, port)
    except socket.gaierror as exc:
        raise InvalidInput(f"cannot serve on --host {host!r}: {exc.strerror}") from None
    if refused is None:
        return
    if refused.errno == errno.EADDRINUSE:
        raise Conflict(f"port {port} on {host} is in use by another server: stop it or pick another --port")
    raise InvalidInput(f"cannot listen on {host}:{port}: {refused.strerror}")


def serve(*, host: str, port: int, workers: int, threads: int, role: str) -> None:
    """Serve carepg.web:app with granian until SIGINT/SIGTERM; one connection pool per worker process."""
    from granian import Granian
    from granian.constants import Interfaces

    ensure_port_free(host, port)
    log = logs.setup()  # stderr carries JSON lines only, from here on
    url = api_database_url(role)
    try:  # say early what is wrong; the app still starts, answers 503 and recovers once the database is back
        with db.connect(url) as conn, db.translated_errors():
            conn.execute(shifts.QUERIES["healthz"]).fetchone()
    except CarepgError as exc:
        log.warning("database not usable yet", extra={"fields": {"event": "startup", "detail": exc.message}})
    os.environ["CAREPG_WEB_DATABASE_URL"] = url
    os.environ["CAREPG_WEB_POOL_SIZE"] = str(threads)
    pool.Settings.from_env()  # a bad CAREPG_WEB_* setting stops us here, not on every request
    log.info(
        f"serving http://{host}:{port}/",
        extra={"fields": {"event": "startup", "workers": workers, "threads": threads, "role": role or None}},
    )
    Granian(
        "carepg.web.front:app",
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        log_dictconfig=_LOG_CONFIG,
    ).serve()
