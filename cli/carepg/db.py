"""Connections: which database carepg talks to, and how errors from it reach the user.

DATABASE_URL (a libpq URI or key=value string) overrides everything; without it carepg uses, and starts when
asked to, its own local cluster (see cluster.py).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator

import psycopg
from psycopg.conninfo import conninfo_to_dict

from . import cluster
from .errors import CarepgError, InvalidInput, ServerUnavailable, from_database


def database_url() -> str | None:
    """The user's DATABASE_URL (checked to be a connection string), or None for carepg's local cluster."""
    url = os.environ.get("DATABASE_URL") or None
    if url is not None:
        check_url(url, "DATABASE_URL")
    return url


def check_url(url: str, what: str) -> None:
    """InvalidInput unless `url` is a libpq URI or key=value string psycopg can use (nothing is connected)."""
    try:
        conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "not a connection string"
        raise InvalidInput(
            f"invalid {what}: {_without_secrets(reason)[:200]} (use e.g. postgresql://user:password@host:5432/dbname)"
        ) from None


def shown_url(url: str) -> str:
    """A connection string as carepg prints or logs it: any password masked (`user:***@`, `password=***`)."""
    return _without_secrets(url)


def _without_secrets(text: str) -> str:
    """libpq quotes the URL it could not parse: keep passwords out of messages and logs."""
    text = re.sub(r"(://[^:/@\s\"]*):[^@\s\"]*@", r"\1:***@", text)
    return re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", text, flags=re.IGNORECASE)


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
            with contextlib.suppress(psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):  # a race
                conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(dbname)))


def connect(url: str | None = None, **kwargs) -> psycopg.Connection:
    """Open a connection, turning "cannot connect" into one clear line."""
    target = url or resolve_url()
    check_url(target, "database URL")
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
