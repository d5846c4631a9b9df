"""User-facing errors, and the one place where SQLSTATEs become messages, exit codes and HTTP statuses.

Our SQL raises its own SQLSTATEs (class `CP`, listed at the top of each migration that raises them): the Python side never
matches on message text. Every error a user can cause becomes a `CarepgError` carrying one line that says what
was wrong and how to fix it; the CLI prints that line and exits non-zero, the web app turns it into a
problem+json body with the class's `http_status`, `title` and `slug` (and `Retry-After` when it has one).
"""

from __future__ import annotations

import psycopg


class CarepgError(Exception):
    """An error meant for the user: `str(err)` is the whole story, no traceback needed."""

    exit_code = 1
    http_status = 400
    title = "Bad request"
    # The web app's problem+json `type` is urn:carepg:problem:<slug>.
    slug = "bad-request"
    # Seconds a client should wait before retrying (the web app's Retry-After); None: retrying won't help.
    retry_after: int | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        # The SQLSTATE this error was translated from (None: raised by Python), for the logs.
        self.sqlstate: str | None = None


class InvalidInput(CarepgError):
    exit_code = 2
    http_status = 400
    title = "Invalid input"
    slug = "invalid-input"


class NotFound(CarepgError):
    exit_code = 3
    http_status = 404
    title = "Not found"
    slug = "not-found"


class MethodNotAllowed(CarepgError):
    """An HTTP method the resource does not support (web app only)."""

    exit_code = 2
    http_status = 405
    title = "Method not allowed"
    slug = "method-not-allowed"

    def __init__(self, message: str, allowed: tuple[str, ...]) -> None:
        super().__init__(message)
        self.allowed = allowed


class Conflict(CarepgError):
    exit_code = 4
    http_status = 409
    title = "Conflict"
    slug = "conflict"


class Unsupported(CarepgError):
    """The server lacks something this needs (e.g. pg_cron for a scheduled refresh)."""

    exit_code = 6
    http_status = 501
    title = "Not supported by this server"
    slug = "unsupported"


class ServerUnavailable(CarepgError):
    """No server to talk to (unreachable, cannot be started, no binaries, no free connection in time)."""

    exit_code = 2
    http_status = 503
    title = "Database unavailable"
    slug = "database-unavailable"
    retry_after = 2


class DatabaseTimeout(ServerUnavailable):
    """The query ran past statement_timeout: the server is overloaded or the question too big right now."""

    title = "Database timeout"
    slug = "database-timeout"


class SchemaMissing(CarepgError):
    """The database is reachable but carepg's migrations have not been applied."""

    exit_code = 5
    http_status = 503
    title = "Database not migrated"
    slug = "database-not-migrated"
    retry_after = 60


# Our own SQLSTATEs (raised by the SQL in sql/) and the standard ones a user can provoke.
SQLSTATE_ERRORS: dict[str, type[CarepgError]] = {
    "CP404": NotFound,  # unknown worker
    "CP400": InvalidInput,  # an argument out of range (max_rows, window, cursor half)
    "CP409": Conflict,  # the database is not in a state that allows this (e.g. seeding a non-empty db)
    "CP501": Unsupported,  # the server lacks a feature (pg_cron)
    "22007": InvalidInput,  # invalid_datetime_format
    "22008": InvalidInput,  # datetime_field_overflow
    "22003": InvalidInput,  # numeric_value_out_of_range
    "22P02": InvalidInput,  # invalid_text_representation
    "57014": DatabaseTimeout,  # query_canceled: statement_timeout (the web app sets one)
}

# Missing relation / function / schema: the migrations were not applied to this database.
_NOT_MIGRATED = {"42P01", "42883", "3F000", "42704"}
MIGRATE_HINT = "run `carepg migrate` first"


def from_database(err: psycopg.Error) -> CarepgError | None:
    """Translate a database error a user can cause; None when it is a bug that should surface as such."""
    mapped = _translate(err)
    if mapped is not None:
        mapped.sqlstate = err.sqlstate
    return mapped


def _translate(err: psycopg.Error) -> CarepgError | None:
    # No SQLSTATE: the client side failed (cannot connect, connection lost, psycopg_pool.PoolTimeout).
    if isinstance(err, psycopg.OperationalError) and err.sqlstate is None:
        return ServerUnavailable(f"database unreachable: {_first_line(str(err))}")
    sqlstate = err.sqlstate or ""
    if sqlstate in SQLSTATE_ERRORS:
        message = err.diag.message_primary or _first_line(str(err))
        hint = err.diag.message_hint
        return SQLSTATE_ERRORS[sqlstate](f"{message} ({hint})" if hint else message)
    if sqlstate in _NOT_MIGRATED:
        return SchemaMissing(f"the database is missing carepg's schema ({err.diag.message_primary}): {MIGRATE_HINT}")
    if sqlstate.startswith("08") or sqlstate in {"57P01", "57P02", "57P03", "53300"}:
        return ServerUnavailable(f"database unavailable: {err.diag.message_primary or _first_line(str(err))}")
    return None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text
