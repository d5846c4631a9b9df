"""Connections: which database carepg talks to, and how errors from it reach the user.

DATABASE_URL (a libpq URI or key=value string) overrides everything; without it carepg uses, and starts when
asked to, its own local cluster (see cluster.py). Most commands talk to it through psycopg (`connect`); the hot
ones, which must start as fast as psql, and `mrf ingest`, through libpq directly (`quick_connect`, libpq.py). Both check the
database's carepg revision on the first connection of a command that needs carepg's schema (`expect_revision`).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterator

from . import libpq
from .errors import InvalidInput, cannot_connect, from_database

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on every command's start
if TYPE_CHECKING:
    import psycopg

    from . import cluster

URL_EXAMPLE = "postgresql://user:password@host:5432/dbname"


def database_url() -> str | None:
    """The user's DATABASE_URL (checked to be a connection string), or None for carepg's local cluster."""
    url = os.environ.get("DATABASE_URL") or None
    if url is not None:
        check_url(url, "DATABASE_URL")
    return url


def check_url(url: str, what: str) -> None:
    """InvalidInput unless `url` is a libpq URI or key=value string (nothing is connected)."""
    reason = libpq.conninfo_error(url)
    if reason is not None:
        first = reason.splitlines()[0] if reason.strip() else "not a connection string"
        raise InvalidInput(f"invalid {what}: {_without_secrets(first)[:200]} (use e.g. {URL_EXAMPLE})")


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
    from . import cluster

    local = cluster.Cluster()
    if start:
        local.up()
        ensure_database(local)
    return local.url()


def ensure_database(local: cluster.Cluster, dbname: str | None = None) -> None:
    """Create the local cluster's default database on first use."""
    import psycopg
    from psycopg import sql

    from .cluster import DEFAULT_DBNAME

    dbname = dbname or DEFAULT_DBNAME
    with psycopg.connect(local.url("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):  # a race
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


def _where(url: str | None) -> str:
    return "the local cluster (run `carepg db up`)" if not database_url() and url is None else "DATABASE_URL"


def connect(url: str | None = None, **kwargs) -> psycopg.Connection:
    """Open a connection, turning "cannot connect" into one clear line."""
    import psycopg

    target = url or resolve_url()
    check_url(target, "database URL")
    try:
        conn = psycopg.connect(target, connect_timeout=10, **kwargs)
    except psycopg.OperationalError as err:
        pgconn = getattr(err, "pgconn", None)
        message = pgconn.error_message.decode("utf-8", "replace") if pgconn is not None else ""
        raise cannot_connect(_where(url), message or str(err)) from None
    if _revision_expected():
        try:
            check_revision(conn)
        except BaseException:
            conn.close()
            raise
    return conn


def quick_connect(url: str | None = None, *, revision: bool = True) -> libpq.Connection:
    """A libpq connection, for the commands that must start as fast as psql (the hot commands, `mrf ingest`):
    to `url`, else DATABASE_URL, else the local cluster (started, and its database created, only when it does not
    answer). Its revision is checked unless `revision` is False; its `url` is where it connected."""
    target = url or database_url()
    if target is not None:
        check_url(target, "database URL")
        conn = _libpq_connect(target, _where(url))
    else:
        from . import cluster

        target = cluster.Cluster().url()
        try:
            conn = libpq.Connection(target)
        except libpq.Error:  # not running yet, or its database not created yet: what the other commands do
            target = resolve_url(start=True)
            conn = _libpq_connect(target, _where(None))
    if revision:
        try:
            check_revision(conn)
        except BaseException:
            conn.close()
            raise
    return conn


def _libpq_connect(url: str, where: str) -> libpq.Connection:
    try:
        return libpq.Connection(url)
    except libpq.Error as err:
        raise cannot_connect(where, str(err)) from None


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    """Re-raise database errors a user can cause as CarepgError; let real bugs through untouched."""
    try:
        yield
    except _database_errors() as err:
        mapped = from_database(err)
        if mapped is None:
            raise
        raise mapped from None


def _database_errors() -> tuple[type[Exception], ...]:
    psycopg = sys.modules.get("psycopg")  # not loaded: none of its errors can be raised (the hot commands)
    return (libpq.Error, psycopg.Error) if psycopg is not None else (libpq.Error,)


# --- the revision check -------------------------------------------------------------------------------------

_expected = False


@contextlib.contextmanager
def expect_revision() -> Iterator[None]:
    """While a command that works on carepg's schema runs: its first psycopg connection checks that the
    database is at this code's revision (SchemaMissing or SchemaAhead otherwise, before any work)."""
    global _expected
    _expected = True
    try:
        yield
    finally:
        _expected = False


def _revision_expected() -> bool:
    global _expected
    pending, _expected = _expected, False  # once per command
    return pending


def check_revision(conn: psycopg.Connection | libpq.Connection) -> None:
    """SchemaMissing or SchemaAhead unless the database is at this code's revision; nothing when this role may
    not read it (a reader role: the statements themselves will tell)."""
    from . import migrations

    query = migrations.REVISION_QUERY
    with translated_errors():
        try:
            if isinstance(conn, libpq.Connection):
                versions = [row[0] for row in conn.execute(query)]
            else:
                with conn.transaction() if not conn.autocommit else contextlib.nullcontext():
                    versions = [row[0] for row in conn.execute(query).fetchall()]
        except _database_errors() as err:
            sqlstate = err.sqlstate
            if sqlstate == "42501":
                return
            if sqlstate != "42P01":  # no alembic_version table: never migrated
                raise
            versions = None
    problem = migrations.revision_problem(versions)
    if problem is not None:
        raise problem


__all__ = ["connect", "database_url", "ensure_database", "quick_connect", "resolve_url", "translated_errors"]
