"""Connections: which database carepg talks to, and how errors from it reach the user.

DATABASE_URL (a libpq URI or key=value string) overrides everything; without it carepg uses, and starts when
asked to, its own local cluster (see cluster.py).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import psycopg

from . import cluster
from .errors import CarepgError, ServerUnavailable, from_database


def database_url() -> str | None:
    """The user's DATABASE_URL, or None when carepg should use its local cluster."""
    return os.environ.get("DATABASE_URL") or None


def resolve_url(*, start: bool = False) -> str:
    """The URL to connect to; with `start`, bring the local cluster up first when it is the target."""
    url = database_url()
    if url:
        return url
    local = cluster.Cluster()
    if start:
        local.up()
        ensure_database(local)
    return local.url()


def ensure_database(local: cluster.Cluster, dbname: str = cluster.DEFAULT_DBNAME) -> None:
    """Create the local cluster's default database on first use."""
    with psycopg.connect(local.url("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(dbname)))


def connect(url: str | None = None, **kwargs) -> psycopg.Connection:
    """Open a connection, turning "cannot connect" into one clear line."""
    target = url or resolve_url()
    try:
        return psycopg.connect(target, connect_timeout=10, **kwargs)
    except psycopg.OperationalError as err:
        where = "the local cluster (run `carepg db up`)" if not database_url() and url is None else "DATABASE_URL"
        raise ServerUnavailable(f"cannot connect to {where}: {_reason(err)}") from None


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    """Re-raise database errors a user can cause as CarepgError; let real bugs through untouched."""
    try:
        yield
    except psycopg.Error as err:
        mapped = from_database(err)
        if mapped is None:
            raise
        raise mapped from None


def _reason(err: psycopg.OperationalError) -> str:
    text = str(err).strip().splitlines()
    reason = text[-1] if text else "unknown error"
    for line in text:
        if "FATAL" in line or "No such file" in line or "refused" in line:
            reason = line.split(":", 1)[-1].strip() if "FATAL" in line else line
            break
    return reason


__all__ = ["CarepgError", "connect", "database_url", "ensure_database", "resolve_url", "translated_errors"]
