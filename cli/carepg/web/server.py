"""Running the app in production: granian's configuration for `carepg serve`.

The app itself (app.py) is plain WSGI and runs under any WSGI server; this is the one place that knows granian.
"""

from __future__ import annotations

import errno
import os
import socket

from .. import cluster, db, shifts
from ..errors import CarepgError, Conflict, InvalidInput, SchemaMissing, ServerUnavailable
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


def check_settings(threads: int) -> None:
    """The CAREPG_WEB_* settings, checked before anything starts: a bad one is a bad argument (errors.py)."""
    explicit = os.environ.get("CAREPG_WEB_DATABASE_URL")
    if explicit:
        db.check_url(explicit, "CAREPG_WEB_DATABASE_URL")
    os.environ["CAREPG_WEB_POOL_SIZE"] = str(threads)
    try:
        pool.Settings.from_env()
    except ServerUnavailable as exc:  # what the app answers (503) when it meets one: here it is the caller's
        raise InvalidInput(exc.message) from None


def check_revision(url: str) -> CarepgError | None:
    """SchemaMissing or SchemaAhead when the database behind `url` is not at this code's revision (raised: there
    is no point serving it); the error when it cannot be asked (returned: the app starts and answers 503 until the
    database is back)."""
    try:
        with db.connect(url) as conn:
            db.check_revision(conn)
    except SchemaMissing:
        raise
    except CarepgError as exc:
        return exc
    return None


def serve(*, host: str, port: int, workers: int, threads: int, role: str) -> None:
    """Serve carepg.web:app with granian until SIGINT/SIGTERM; one connection pool per worker process."""
    from granian import Granian
    from granian.constants import Interfaces

    check_settings(threads)
    ensure_port_free(host, port)
    url = api_database_url(role)
    # carepg's own role may read the revision (the API role may not); with only an API URL given, ask as that role.
    owner = db.resolve_url(start=True) if not os.environ.get("CAREPG_WEB_DATABASE_URL") or db.database_url() else url
    unusable = check_revision(owner)
    log = logs.setup()  # stderr carries JSON lines only, from here on
    if unusable is None:
        try:  # say early what is wrong; the app still starts, answers 503 and recovers once the database is back
            with db.connect(url) as conn, db.translated_errors():
                conn.execute(shifts.QUERIES["healthz"]).fetchone()
        except CarepgError as exc:
            unusable = exc
    if unusable is not None:
        log.warning("database not usable yet", extra={"fields": {"event": "startup", "detail": unusable.message}})
    os.environ["CAREPG_WEB_DATABASE_URL"] = url
    log.info(
        f"serving http://{host}:{port}/",
        extra={"fields": {"event": "startup", "workers": workers, "threads": threads, "role": role or None}},
    )
    Granian(
        "carepg.web:app",
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=threads,
        log_dictconfig=_LOG_CONFIG,
    ).serve()
