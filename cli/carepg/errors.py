"""User-facing errors, and the one place where SQLSTATEs become messages, exit codes and HTTP statuses.

Our SQL raises its own SQLSTATEs (class `CP`, see SQLSTATE_ERRORS), and the map reads SQLSTATEs only, never a
message's text (which the server's lc_messages translates and each release may reword). Every error a user can
cause becomes a `CarepgError` carrying one line that says what was wrong and how to fix it; the CLI prints that
line and exits with the class's `exit_code`, the web app answers a problem+json body with its `http_status`,
`title` and `slug` (and `Retry-After` when it has one). Each exit code means one thing:

    0  done                          6  unsupported by this server          11  source unavailable (retry later)
    1  a bug (please report it)      7  invalid input                       12 not configured (a setting to fix)
    3  not found                     8  forbidden (the rules say no)        128 + N  ended by signal N: 130 Ctrl-C,
    4  conflict                      9  permission denied (database role)            129 SIGHUP, 143 SIGTERM
    5  database not migrated         10 database unavailable (retry later)
       (or migrated by a newer carepg)

The argument policy. A bad argument is invalid input (7; 400 over HTTP), whatever it is and wherever it came from:
a value out of range or malformed, an unknown option, a missing argument, a malformed environment setting
(DATABASE_URL, CAREPG_PORT, CAREPG_WEB_*), a query parameter. It is one line, and it is found before any work: no
connection is opened, no cluster started, nothing migrated, seeded or written until every argument of the command
has been checked (args.py holds the checks that the CLI and the web app share). Why 7 and not Click's 2: a value
refused is the same mistake whether a shell, an HTTP client or a document sent it, and one number for it lets a
script tell "fix what you gave carepg" (7) from "the data says no" (3, 4, 8) and "retry later" (10, 11) without
knowing which layer noticed; Click's own usage errors are reported the same way, so 2 never comes out of carepg.
What only the database can settle (a worker that does not exist; `migrate -5` on a database three revisions in)
is answered after asking it: 3 for the worker, 7 for the step.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on every command's start
if TYPE_CHECKING:
    from typing import Any

EXIT_BUG = 1
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class CarepgError(Exception):
    """An error meant for the user: `str(err)` is the whole story, no traceback needed."""

    exit_code = EXIT_BUG
    http_status = 500
    title = "Internal error"
    # The web app's problem+json `type` is urn:carepg:problem:<slug>.
    slug = "internal-error"
    # Seconds a client should wait before retrying (the web app's Retry-After); None: retrying won't help.
    retry_after: int | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        # The SQLSTATE this error was translated from (None: raised by Python), for the logs.
        self.sqlstate: str | None = None
        # Which rule refused, for programs (the DETAIL of carepg's own SQLSTATEs, e.g. "taken", "overlap").
        self.reason: str | None = None
        # The SQL hint at the end of the message (it speaks SQL; the CLI may say it its own way).
        self.hint: str | None = None


class InvalidInput(CarepgError):
    """A value or a document carepg cannot accept: a date, a cursor, a limit, a corrupt file..."""

    exit_code = 7
    http_status = 400
    title = "Invalid input"
    slug = "invalid-input"


class BadInput(InvalidInput):
    """The bytes of a document are not what they should be (truncated gzip, corrupt JSON, not a table of contents).

    `at()` adds where it happened (a byte offset) to a message that does not say yet.
    """

    located = False  # does the message already say where?

    def at(self, where: str) -> BadInput:
        located = BadInput(f"{self.message} ({where})")
        located.located = True
        return located


class NotFound(CarepgError):
    exit_code = 3
    http_status = 404
    title = "Not found"
    slug = "not-found"


class MethodNotAllowed(CarepgError):
    """An HTTP method the resource does not support (web app only)."""

    exit_code = InvalidInput.exit_code
    http_status = 405
    title = "Method not allowed"
    slug = "method-not-allowed"

    def __init__(self, message: str, allowed: tuple[str, ...]) -> None:
        super().__init__(message)
        self.allowed = allowed


class Conflict(CarepgError):
    """The current state does not allow it (seeding a database that has data, a shift someone else holds)."""

    exit_code = 4
    http_status = 409
    title = "Conflict"
    slug = "conflict"


class Forbidden(CarepgError):
    """The rules do not let this worker take this shift (inactive worker or facility, deleted shift, another
    profession, missing documents): a state of the data, not a mistake in the request."""

    exit_code = 8
    http_status = 403
    title = "Forbidden"
    slug = "forbidden"


class Unauthorized(CarepgError):
    """No credentials, or ones that do not verify (a missing, malformed, expired or wrongly signed bearer token):
    HTTP 401 with `challenge` as its WWW-Authenticate header (RFC 6750). A valid token for another worker is a
    plain Forbidden (403). Web app only."""

    exit_code = Forbidden.exit_code
    http_status = 401
    title = "Unauthorized"
    slug = "unauthorized"

    def __init__(self, message: str, challenge: str = 'Bearer realm="carepg"') -> None:
        super().__init__(message)
        self.challenge = challenge
        self.reason = "invalid_token" if "error=" in challenge else "missing_token"


class TooLarge(InvalidInput):
    """A request body over the size the route reads (HTTP 413). Web app only."""

    http_status = 413
    title = "Content too large"
    slug = "content-too-large"


class NotConfigured(CarepgError):
    """A setting carepg needs is missing or unusable (the key that signs or verifies tokens), or a server would be
    unsafe without it: the deployment's to fix, not a client's (HTTP 503)."""

    exit_code = 12
    http_status = 503
    title = "Server not configured"
    slug = "not-configured"


class SchemaMissing(CarepgError):
    """The database is reachable but carepg's migrations have not been applied, or not all of them."""

    exit_code = 5
    http_status = 503
    title = "Database not migrated"
    slug = "database-not-migrated"
    retry_after = 60


class SchemaAhead(SchemaMissing):
    """The database was migrated by a newer carepg: this code does not know its schema (upgrade carepg)."""

    title = "Database newer than this carepg"
    slug = "database-ahead"


class Unsupported(CarepgError):
    """The server lacks something this needs (e.g. pg_cron for a scheduled refresh)."""

    exit_code = 6
    http_status = 501
    title = "Not supported by this server"
    slug = "unsupported"


class PermissionDenied(CarepgError):
    """The database role lacks a privilege carepg needs: a deployment problem, not the client's."""

    exit_code = 9
    http_status = 503
    title = "Database permission denied"
    slug = "database-permission-denied"
    retry_after = 30


class ServerUnavailable(CarepgError):
    """No server to talk to (unreachable, cannot be started, no binaries, no free connection in time)."""

    exit_code = 10
    http_status = 503
    title = "Database unavailable"
    slug = "database-unavailable"
    retry_after = 2


class DatabaseTimeout(ServerUnavailable):
    """The query ran past statement_timeout: the server is overloaded or the question too big right now."""

    title = "Database timeout"
    slug = "database-timeout"


class SourceUnavailable(CarepgError):
    """A table of contents (or lookup document) could not be fetched: network, HTTP status, resume refused."""

    exit_code = 11
    http_status = 502
    title = "Source unavailable"
    slug = "source-unavailable"


class Interrupted(CarepgError):
    """A signal ended a command that cleans up after itself (an ingest: rolled back, its run recorded as failed).

    The exit code is 128 + the signal's number, as a shell reports it: 143 for SIGTERM, 129 for SIGHUP.
    """

    exit_code = EXIT_TERMINATED
    http_status = 503
    title = "Interrupted"
    slug = "interrupted"

    def __init__(self, signum: int) -> None:
        import signal

        name = signal.Signals(signum).name
        super().__init__(f"terminated by {name}: nothing was loaded, the previous index stays live")
        self.exit_code = 128 + signum


# Our own SQLSTATEs (raised by the SQL in sql/) and the standard ones a user can provoke.
SQLSTATE_ERRORS: dict[str, type[CarepgError]] = {
    "CP400": InvalidInput,  # an argument out of range (max_rows, window, cursor half, plan type, state)
    "CP403": Forbidden,  # the worker may not take the shift (DETAIL names the rule)
    "CP404": NotFound,  # unknown worker, shift or run; a shift the worker does not hold; nothing ingested yet
    "CP409": Conflict,  # the state does not allow it (a shift taken or overlapping, seeding a non-empty database)
    "CP501": Unsupported,  # the server lacks a feature (pg_cron)
    "40001": Conflict,  # serialization_failure: a concurrent transaction won (retry)
    "40P01": Conflict,  # deadlock_detected: a transaction took locks out of claim_shift's order (retry)
    "22007": InvalidInput,  # invalid_datetime_format
    "22008": InvalidInput,  # datetime_field_overflow
    "22003": InvalidInput,  # numeric_value_out_of_range
    "22P02": InvalidInput,  # invalid_text_representation
    "22021": InvalidInput,  # character_not_in_repertoire: a NUL, or bytes that are not UTF-8, in a text value
    "42501": PermissionDenied,  # insufficient_privilege
    "57014": DatabaseTimeout,  # query_canceled: statement_timeout (the web app sets one)
}
# Something a statement names does not exist: undefined_table, undefined_function, invalid_schema_name,
# undefined_object. Every statement carepg sends names only what its migrations create (its schemas' objects,
# and the challenge's tables, which the first migration creates where they are absent), so the database is not
# at this code's revision; the CLI and `carepg serve` check the revision itself first and say which it is.
UNDEFINED_OBJECT = ("42P01", "42883", "3F000", "42704")
CAREPG_SCHEMAS = ("shifts", "shifts_private", "mrf", "mrf_private", "carepg_ext")

MIGRATE_HINT = "run `carepg migrate` first"
PRIVILEGE_HINT = (
    "the database role lacks a privilege carepg needs; `carepg migrate` grants carepg's roles theirs, "
    "or grant it to this role"
)


def from_database(err: Any) -> CarepgError | None:
    """Translate a database error a user can cause; None when it is a bug that should surface as such.

    `err` is a psycopg.Error or a libpq.Error (the hot commands' client): both carry `sqlstate` and a `diag`
    with the fields libpq reports (message_primary, message_detail, message_hint, ...).
    """
    mapped = _translate(err)
    if mapped is not None:
        mapped.sqlstate = err.sqlstate
        if (err.sqlstate or "").startswith("CP"):
            mapped.reason = err.diag.message_detail
            mapped.hint = err.diag.message_hint
    return mapped


def _translate(err: Any) -> CarepgError | None:
    sqlstate = err.sqlstate or ""
    if not sqlstate:
        return _client_side(err)
    diag = err.diag
    primary = _first_line(diag.message_primary or str(err))
    hint = diag.message_hint
    if sqlstate == "42501":  # say which privilege, and how a deployment gets it
        return PermissionDenied(f"{primary}{f' ({hint})' if hint else ''}: {PRIVILEGE_HINT}")
    if sqlstate in SQLSTATE_ERRORS:
        return SQLSTATE_ERRORS[sqlstate](f"{primary} ({hint})" if hint else primary)
    if sqlstate == "42703" and _inside_carepg_function(err):
        # A column one of carepg's functions reads is gone or not there yet: a migration is changing the schema
        # between the function's compilation and its statement (CONTEXT, a diagnostic field, says where).
        return ServerUnavailable(f"the database schema changed under the query ({primary[:200]}): a migration is "
                                 f"running; retry")  # fmt: skip
    if sqlstate in UNDEFINED_OBJECT:
        return SchemaMissing(f"the database is missing carepg's schema ({primary}): {MIGRATE_HINT}")
    if sqlstate == "XX000":
        # internal_error: the server's own failure, never the client's. The one carepg meets is an object a
        # running statement had resolved being dropped under it ("cache lookup failed"): a migration is
        # changing the schema, and the same request succeeds a moment later.
        return ServerUnavailable(f"the database failed internally ({primary[:200]}), as it does when a migration "
                                 f"changes the schema under a running query: retry")  # fmt: skip
    if sqlstate.startswith("08") or sqlstate in {"57P01", "57P02", "57P03", "53300"}:
        return ServerUnavailable(f"database unavailable: {primary}")
    if sqlstate.startswith("28") or sqlstate == "3D000":  # invalid authorization / unknown database
        return ServerUnavailable(f"database refused the connection: {primary}")
    return None


def _client_side(err: Any) -> CarepgError | None:
    """No SQLSTATE: psycopg's client side failed (cannot connect, connection lost, a pool timeout, a value libpq
    cannot send), or carepg's own libpq client did (a connection lost, a COPY the server did not take)."""
    libpq = sys.modules.get("carepg.libpq")  # loaded already if the error is its own
    if libpq is not None and isinstance(err, libpq.Error):  # exit code 10's meaning: the connection went, retry
        return ServerUnavailable(f"database unavailable: {_first_line(str(err))}")
    import psycopg  # loaded already: the error is one of its own

    if isinstance(err, psycopg.OperationalError):
        return ServerUnavailable(f"database unreachable: {_first_line(str(err))}")
    if isinstance(err, psycopg.DataError):  # refused before it was sent (a NUL byte in text...)
        return InvalidInput(f"invalid value: {_first_line(str(err))[:200]}")
    return None


def cannot_connect(where: str, libpq_message: str) -> ServerUnavailable:
    """"Cannot connect" in one line: the first line of libpq's message, which says to what and why."""
    return ServerUnavailable(f"cannot connect to {where}: {_first_line(libpq_message) or 'unknown error'}")


def _inside_carepg_function(err: Any) -> bool:
    """Was the error raised by a statement of one of carepg's own functions (its CONTEXT field says so)?"""
    context = getattr(err.diag, "context", None) or ""
    return any(f"function {schema}." in context for schema in CAREPG_SCHEMAS)


def _first_line(text: str) -> str:
    """The first line with something on it; "" for text that is only whitespace (never a line break)."""
    lines = text.strip().splitlines()
    return lines[0] if lines else ""
