"""Running the app in production: granian's configuration for `carepg serve`.

granian serves the ASGI front (front.py): the event stream as coroutines on its event loop, every other route
by the WSGI app (app.py), reads on the loop's thread and the rest in `threads` threads per worker. The WSGI app
alone runs under any WSGI server; this and front.py are the places that know granian.
"""

from __future__ import annotations

import errno
import os
import socket
import sys

import psycopg

from .. import auth, cluster, db, shifts
from ..errors import CarepgError, Conflict, InvalidInput, NotConfigured, SchemaMissing, ServerUnavailable
from . import logs, pool
from .events import MAX_SUBSCRIBERS

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


SIGN_IN_TTL_SECONDS = 12 * 3600


def token_key(host: str) -> auth.KeyConfig:
    """The key the server verifies tokens with: the configured one; else, on a loopback address only, the
    development secret under CAREPG_HOME (made on first use), which the worker processes then read through
    CAREPG_JWT_SECRET_FILE. A server reachable from other machines never runs on a secret nobody chose."""
    config = auth.configured()
    if config is not None:
        return config
    if not auth.is_loopback(host):
        raise NotConfigured(f"refusing to serve on {host} without a token secret: set {auth.SECRET_ENV} (at least "
                            f"{auth.MIN_SECRET_BYTES} bytes, e.g. `openssl rand -hex 32`), {auth.SECRET_FILE_ENV} or "
                            f"{auth.PUBLIC_KEY_ENV}; only a loopback --host may use a development secret")  # fmt: skip
    config = auth.development_secret(cluster.default_home(), create=True)
    assert config is not None  # just made
    os.environ[auth.SECRET_FILE_ENV] = config.source
    return config


def print_sign_in(config: auth.KeyConfig, host: str, port: int) -> None:
    """With the development secret: sign-in links for the demo workers and for staff, on stdout (the console, not
    the log on stderr; the token is in the URL fragment, which browsers never send to the server)."""
    base = f"http://{f'[{host}]' if ':' in host else host}:{port}/"
    workers: list[dict] = []
    try:  # the seed's deterministic workers, when this database has them (read as carepg's own user)
        with db.connect(db.resolve_url()) as conn, db.translated_errors():
            workers = shifts.deterministic_workers(conn)
    except (CarepgError, psycopg.Error):
        pass
    hours = SIGN_IN_TTL_SECONDS // 3600
    lines = [f"development sign-in, valid {hours} h (tokens signed with {config.source}; `carepg token WORKER` mints "
             "more):"]  # fmt: skip
    for worker in workers:
        token = auth.mint(config, worker_id=worker["id"], staff=False, ttl_seconds=SIGN_IN_TTL_SECONDS)
        lines.append(f"  worker {worker['id']} ({worker['profession']}): {base}?worker={worker['id']}#token={token}")
    token = auth.mint(config, worker_id=None, staff=True, ttl_seconds=SIGN_IN_TTL_SECONDS)
    lines.append(f"  staff (any worker): {base}#token={token}")
    print("\n".join(lines), file=sys.stdout, flush=True)
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
    """Serve carepg.web.front:app with granian until SIGINT/SIGTERM; one connection pool per worker process."""
    from granian import Granian
    from granian.constants import Interfaces

    check_settings(threads)
    ensure_port_free(host, port)
    url = api_database_url(role)
    # A malformed URL is one line here, its password masked (psycopg's own message would quote it whole).
    db.check_url(url, "CAREPG_WEB_DATABASE_URL" if os.environ.get("CAREPG_WEB_DATABASE_URL") else "DATABASE_URL")
    # carepg's own role may read the revision (the API role may not); with only an API URL given, ask as that role.
    owner = db.resolve_url(start=True) if not os.environ.get("CAREPG_WEB_DATABASE_URL") or db.database_url() else url
    unusable = check_revision(owner)
    key = token_key(host)
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
        extra={"fields": {"event": "startup", "workers": workers, "threads": threads, "role": role or None,
                          "tokens": f"{key.algorithm} ({key.source})"}},
    )  # fmt: skip
    if key.development:
        print_sign_in(key, host, port)
    raise_open_files_limit()
    Granian(
        "carepg.web.front:app",
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        # granian admits at most this many requests per worker at once and leaves the next connections waiting,
        # unanswered; its default (backlog / workers: 512 with two) would let the 513th event stream of a worker
        # hang. Room for the streams a process holds (beyond them it answers 503) and a burst of other requests.
        backpressure=MAX_SUBSCRIBERS + 1024,
        log_dictconfig=_LOG_CONFIG,
    ).serve()


def raise_open_files_limit() -> None:
    """Every open stream is a socket: lift the soft limit on open files (often 1,024) to the hard one, as far as
    the streams a process may hold need, before granian's workers inherit it."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = MAX_SUBSCRIBERS + 1024 + 256  # the streams, other requests, the pool, the log, granian's own
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
