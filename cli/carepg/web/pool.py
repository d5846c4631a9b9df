"""The web app's connections: a small pool per process, made lazily on the first request.

Lazily, because WSGI servers import the app and then fork their workers: connections made before the fork would
be shared by every worker. The pool is made again when the pid changes.

A caller that must not block (the event loop's thread, front.py) borrows only an idle connection, inside
`without_waiting()`: where a request would wait for one, or make one, it gets WouldWait instead and hands the
request to a thread that may.

The pool is our own, not psycopg_pool: a checkout from psycopg_pool cost ~20 us of CPU per request in the
server (its locks, stats, logging calls and background workers), a tenth of what the app spends on a full page;
this one is a list behind one lock (~1 us). Connections are made on demand in the thread that needs one (so the
first request after the database is back gets one at once; no background reconnection with a growing backoff),
at most `pool_size` per process; a request that finds none free waits up to `pool_timeout` for one.

Settings (environment variables, read once per process):
    CAREPG_WEB_DATABASE_URL       conninfo of the API role (`carepg serve` sets it); default: DATABASE_URL or the
                                  local cluster, as the CLI resolves it
    CAREPG_WEB_POOL_SIZE          connections per process (default 4; give it at least the server's threads)
    CAREPG_WEB_POOL_TIMEOUT       seconds a request waits for a connection before it is a 503 (default 3); also
                                  the connect timeout
    CAREPG_WEB_STATEMENT_TIMEOUT  milliseconds a query may run before it is cancelled, a 503 (default 5000)
    CAREPG_WEB_EVENTS_POLL        seconds between the event relay's probes of the change feed (inside the
                                  database) while anyone listens (default 0.005, at least 0.001, at most 1;
                                  events.py, PERFORMANCE.md "Push")
    CAREPG_WEB_EVENTS_HEARTBEAT   seconds between the comments that keep an idle event stream open (default 15)
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import threading
from collections.abc import Callable, Iterator
from time import monotonic
from typing import TypeVar

import psycopg
from psycopg.pq import TransactionStatus

from .. import db
from ..errors import CarepgError, PermissionDenied, ServerUnavailable, from_database

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Settings:
    url: str
    pool_size: int = 4
    pool_timeout: float = 3.0
    statement_timeout_ms: int = 5000
    events_poll: float = 0.005
    events_heartbeat: float = 15.0

    @classmethod
    def from_env(cls) -> Settings:
        def number(name: str, default: float, kind: type = int, low: float = 0, high: float | None = None):
            raw = os.environ.get(name)
            if not raw:
                return default
            try:
                value = kind(raw)
            except ValueError:
                value = 0
            # Written so that NaN fails it, and no setting may be infinite (a timeout of inf overflows round()).
            if not (math.isfinite(value) and value > 0 and value >= low and (high is None or value <= high)):
                # A deployment mistake, not the client's: `serve` reports it at startup, the app answers 503.
                wanted = "a positive number" if high is None else f"a number from {low} to {high}"
                raise ServerUnavailable(f"invalid {name}={raw!r}: it must be {wanted}")
            return value

        return cls(
            url=os.environ.get("CAREPG_WEB_DATABASE_URL") or db.resolve_url(start=False),
            pool_size=number("CAREPG_WEB_POOL_SIZE", 4),
            pool_timeout=number("CAREPG_WEB_POOL_TIMEOUT", 3.0, float),
            statement_timeout_ms=number("CAREPG_WEB_STATEMENT_TIMEOUT", 5000),
            events_poll=number("CAREPG_WEB_EVENTS_POLL", 0.005, float, 0.001, 1),  # the SQL function's bounds
            events_heartbeat=number("CAREPG_WEB_EVENTS_HEARTBEAT", 15.0, float),
        )


class WouldWait(BaseException):
    """Pool.getconn, inside `without_waiting()`, found no idle connection. A BaseException, so that nothing on the
    way back (the app's own error handling included) mistakes it for a failure of the request."""


_borrower = threading.local()


@contextlib.contextmanager
def without_waiting() -> Iterator[None]:
    """Within this block, this thread's getconn() takes an idle connection or raises WouldWait."""
    _borrower.must_not_wait = True
    try:
        yield
    finally:
        _borrower.must_not_wait = False


class Pool:
    """At most `size` open connections; idle ones are reused last-in first-out (the warmest first)."""

    def __init__(self, connect: Callable[[], psycopg.Connection], size: int, timeout: float) -> None:
        self._connect = connect
        self.size = size
        self.timeout = timeout
        self._idle: list[psycopg.Connection] = []
        self._open = 0  # idle + in use
        self._generation = 0  # connections from an older generation are closed when they come back
        self._cond = threading.Condition(threading.Lock())
        self.closed = False

    def getconn(self) -> psycopg.Connection:
        """An idle connection, else a new one (made in this thread), else wait; ServerUnavailable on timeout."""
        with self._cond:
            if self._idle:
                return self._idle.pop()
            if getattr(_borrower, "must_not_wait", False):
                raise WouldWait
            deadline = monotonic() + self.timeout
            while self._open >= self.size:
                remaining = deadline - monotonic()
                if remaining <= 0 or self.closed:
                    raise ServerUnavailable(f"no database connection came free within {self.timeout:g} s (all "
                                            f"{self.size} of this process are busy): retry later")  # fmt: skip
                self._cond.wait(remaining)
                if self._idle:
                    return self._idle.pop()
            self._open += 1
            generation = self._generation
        try:
            conn = self._connect()
        except BaseException:
            with self._cond:
                self._open -= 1
                self._cond.notify()
            raise
        conn._carepg_generation = generation  # type: ignore[attr-defined]
        return conn

    def putconn(self, conn: psycopg.Connection) -> None:
        """Back to the pool, or closed if it is broken, mid-transaction or from before a drain()."""
        keep = (
            not self.closed
            and not conn.closed
            and conn.pgconn.transaction_status == TransactionStatus.IDLE
            and getattr(conn, "_carepg_generation", None) == self._generation
        )
        if not keep:
            conn.close()
        with self._cond:
            if keep:
                self._idle.append(conn)
            else:
                self._open -= 1
            self._cond.notify()

    def drain(self) -> None:
        """Close the idle connections now and those in use when they come back: the next ones are new."""
        with self._cond:
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._generation += 1
            self._cond.notify_all()
        for conn in idle:
            conn.close()

    def close(self) -> None:
        self.closed = True
        self.drain()


class Database:
    """Runs a function with a pooled connection; survives the database going away and coming back."""

    def __init__(self, settings: Callable[[], Settings] = Settings.from_env) -> None:
        self._settings_factory = settings
        self._settings: Settings | None = None
        self._pool: Pool | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = self._settings_factory()
        return self._settings

    def _connect(self) -> psycopg.Connection:
        s = self.settings
        conn = psycopg.connect(
            s.url,
            autocommit=True,
            prepare_threshold=0,  # prepare every statement on first use (the default waits for 5 uses)
            connect_timeout=max(1, round(s.pool_timeout)),
            application_name="carepg-web",
        )
        try:
            # Bound parameter, session level: every query on this connection gets the timeout.
            conn.execute("SELECT set_config('statement_timeout', %s, false)", (f"{s.statement_timeout_ms}ms",))
        except BaseException:
            conn.close()
            raise
        return conn

    def pool(self) -> Pool:
        pid = os.getpid()
        if self._pool is None or self._pid != pid:
            with self._lock:
                if self._pool is None or self._pid != pid:
                    s = self.settings
                    self._pool, self._pid = Pool(self._connect, s.pool_size, s.pool_timeout), pid
        return self._pool

    def run(self, fn: Callable[[psycopg.Connection], T]) -> T:
        """fn(conn) on a pooled connection, database errors translated (errors.py).

        A connection that cannot be right any more is replaced and fn runs once more on a new one: one found
        dead (the server restarted since it was made; its idle siblings are closed too, they died with it), or
        one whose session belongs to a role that was dropped (and perhaps created again, with a new oid) since
        it logged in, which PostgreSQL answers with "permission denied" for everything, for the rest of the
        session (all its siblings are replaced). A privilege really revoked stays a 503 (PermissionDenied).

        A deadlock or serialization failure (40P01, 40001: PostgreSQL rolled the transaction back, its advice is
        to run it again) runs fn once more on the same connection: each request is one transaction, so that is
        the whole of it. A reader that meets a migration's DDL in the other order, or a claim racing the host
        application's multi-statement transaction, then answers instead of a 409 the client could do nothing about
        but repeat. Twice in a row is the 409 (Conflict).
        """
        for attempt in (1, 2):
            pool = self.pool()
            try:
                conn = pool.getconn()
            except psycopg.Error as exc:  # cannot connect (server down, role missing, ...)
                raise _translated(exc) from None
            try:
                return fn(conn)
            except (psycopg.Error, CarepgError) as exc:
                err = exc if isinstance(exc, CarepgError) else _translated(exc)
                if attempt == 1 and not conn.closed and getattr(err, "sqlstate", None) in _RUN_AGAIN:
                    continue
                retry = attempt == 1 and (
                    (conn.closed and isinstance(err, ServerUnavailable)) or _stale_role(conn, err)
                )
                if retry:
                    conn.close()
                    pool.drain()
                    continue
                if isinstance(err, PermissionDenied) and not conn.closed:
                    sqlstate = err.sqlstate
                    err = PermissionDenied(f"as role {conn.info.user}: {err.message}")
                    err.sqlstate = sqlstate
                raise err from None
            finally:
                pool.putconn(conn)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        if self._pool is not None and self._pid == os.getpid():
            self._pool.close()
        self._pool = None


_RUN_AGAIN = ("40P01", "40001")  # deadlock_detected, serialization_failure: the transaction was rolled back


def reusable_cursor(conn: psycopg.Connection) -> psycopg.Cursor:
    """The connection's own cursor, made once: the hot path saves making one per request (~4 us)."""
    cur = getattr(conn, "_carepg_cursor", None)
    if cur is None or cur.closed:
        cur = conn._carepg_cursor = conn.cursor()  # type: ignore[attr-defined]
    return cur


def _translated(exc: psycopg.Error) -> Exception:
    """The CarepgError a database error means, or the error itself when it is a bug."""
    return from_database(exc) or exc


def _stale_role(conn: psycopg.Connection, err: Exception) -> bool:
    """Does this session belong to a role that no longer exists? (Asked only after a privilege error.)

    PostgreSQL (15 and 18, tried) keeps such a session open and checks privileges against the old oid:
    "permission denied" (42501) for everything, and "invalid role OID" (42704) for current_user, which is the
    question asked here. Authorization (28xxx) and internal (XX000, e.g. a role cache lookup) errors on a live
    session ask it too.
    """
    sqlstate = getattr(err, "sqlstate", None) or ""
    if conn.closed or not (isinstance(err, PermissionDenied) or sqlstate in ("42704", "XX000")
                           or sqlstate.startswith("28")):  # fmt: skip
        return False
    try:
        conn.execute("SELECT current_user").fetchone()
    except psycopg.Error as probe:
        return probe.sqlstate == "42704" or conn.closed
    return False
