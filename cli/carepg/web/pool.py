"""The web app's connections: one psycopg_pool per process, opened lazily on the first request.

Lazily, because WSGI servers import the app and then fork their workers: a pool (and its background threads and
sockets) made before the fork would be shared by every worker. The pool is made again when the pid changes.

Settings (environment variables, read once per process):
    CAREPG_WEB_DATABASE_URL       conninfo of the API role (`carepg serve` sets it); default: DATABASE_URL or the
                                  local cluster, as the CLI resolves it
    CAREPG_WEB_POOL_SIZE          connections per process (default 4; give it at least the server's threads)
    CAREPG_WEB_POOL_TIMEOUT       seconds a request waits for a connection before it is a 503 (default 3)
    CAREPG_WEB_STATEMENT_TIMEOUT  milliseconds a query may run before it is cancelled, a 503 (default 5000)
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable
from typing import TypeVar

import psycopg
from psycopg_pool import ConnectionPool

from .. import db
from ..errors import ServerUnavailable

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Settings:
    url: str
    pool_size: int = 4
    pool_timeout: float = 3.0
    statement_timeout_ms: int = 5000

    @classmethod
    def from_env(cls) -> Settings:
        def number(name: str, default: float, kind: type = int):
            raw = os.environ.get(name)
            if not raw:
                return default
            try:
                value = kind(raw)
            except ValueError:
                value = 0
            if value <= 0:
                # A deployment mistake, not the client's: `serve` reports it at startup, the app answers 503.
                raise ServerUnavailable(f"invalid {name}={raw!r}: it must be a positive number")
            return value

        return cls(
            url=os.environ.get("CAREPG_WEB_DATABASE_URL") or db.resolve_url(start=False),
            pool_size=number("CAREPG_WEB_POOL_SIZE", 4),
            pool_timeout=number("CAREPG_WEB_POOL_TIMEOUT", 3.0, float),
            statement_timeout_ms=number("CAREPG_WEB_STATEMENT_TIMEOUT", 5000),
        )


class Database:
    """Runs a function with a pooled connection; survives the database going away and coming back."""

    def __init__(self, settings: Callable[[], Settings] = Settings.from_env) -> None:
        self._settings_factory = settings
        self._settings: Settings | None = None
        self._pool: ConnectionPool | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = self._settings_factory()
        return self._settings

    def _configure(self, conn: psycopg.Connection) -> None:
        # Bound parameter, session level: every query on this connection gets the timeout.
        conn.execute("SELECT set_config('statement_timeout', %s, false)", (f"{self.settings.statement_timeout_ms}ms",))

    def pool(self) -> ConnectionPool:
        pid = os.getpid()
        if self._pool is None or self._pid != pid:
            with self._lock:
                if self._pool is None or self._pid != pid:
                    s = self.settings
                    pool = ConnectionPool(
                        s.url,
                        min_size=1,
                        max_size=s.pool_size,
                        timeout=s.pool_timeout,
                        # The pool keeps trying in the background while the database is away.
                        reconnect_timeout=24 * 3600,
                        kwargs={
                            "autocommit": True,
                            # Prepare every statement on first use (the default waits for 5 uses).
                            "prepare_threshold": 0,
                            "connect_timeout": max(1, int(s.pool_timeout)),
                            "application_name": "carepg-web",
                        },
                        configure=self._configure,
                        open=False,
                        name=f"carepg-web-{pid}",
                    )
                    # Don't wait: a request arriving while the database is down gets a 503, not a hang.
                    pool.open(wait=False)
                    self._pool, self._pid = pool, pid
        return self._pool

    def run(self, fn: Callable[[psycopg.Connection], T]) -> T:
        """fn(conn) with translated errors. A connection found dead (the server restarted since it was
        pooled) is dropped, the idle ones are checked, and fn runs once more on a fresh one."""
        with db.translated_errors():
            for attempt in (1, 2):
                pool = self.pool()
                with pool.connection() as conn:
                    try:
                        return fn(conn)
                    except ServerUnavailable:
                        if attempt == 2 or not conn.closed:
                            raise
                # The dead connection went back to the pool, which discards it; check its siblings.
                pool.check()
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        if self._pool is not None and self._pid == os.getpid():
            self._pool.close()
        self._pool = None
