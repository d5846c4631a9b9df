"""A small libpq client over ctypes, for the commands that must start as fast as psql does.

Importing psycopg costs ~90 ms, more than psql takes to answer `carepg shifts`' question whole; loading libpq
itself costs ~3 ms. This module is what `carepg shifts` (and the check of a DATABASE_URL's syntax) needs, and
nothing more: parse a conninfo, connect, run one statement with text parameters, read its rows, and report a
failure with the SQLSTATE and the fields psycopg's `Diagnostic` has, so errors.py maps it the same way. Every
other command uses psycopg.

`carepg mrf ingest` uses this client too, for the same reason: importing psycopg costs ~0.2 s of a core the ingest
needs for decompressing and parsing, while a COPY through libpq costs nothing to load (`copy_in`, with
`transaction` for the loading transaction).

It loads the libpq psycopg uses: the one bundled with psycopg-binary when it is installed, else the system's.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import sys
from collections.abc import Iterator
from ctypes import POINTER, Structure, byref, c_char_p, c_int, c_void_p

CONNECTION_OK = 0
PGRES_COMMAND_OK = 1
PGRES_TUPLES_OK = 2
PGRES_COPY_IN = 4
# PQresultErrorField codes, named as psycopg.errors.Diagnostic names the same fields.
_FIELDS = {
    "severity": b"S", "severity_nonlocalized": b"V", "sqlstate": b"C", "message_primary": b"M",
    "message_detail": b"D", "message_hint": b"H", "statement_position": b"P", "internal_position": b"p",
    "internal_query": b"q", "context": b"W", "schema_name": b"s", "table_name": b"t", "column_name": b"c",
    "datatype_name": b"d", "constraint_name": b"n", "source_file": b"F", "source_line": b"L",
    "source_function": b"R",
}  # fmt: skip


class Error(Exception):
    """A failure: `sqlstate` and `diag` as psycopg.Error has them (sqlstate None: the client side failed, e.g. the
    connection could not be made or was lost)."""

    def __init__(self, message: str, sqlstate: str | None = None, diag: Diagnostic | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.diag = diag or Diagnostic({})


class Diagnostic:
    """The fields of an error result; a field the server did not send is None."""

    def __init__(self, fields: dict[str, str | None]) -> None:
        self._fields = fields

    def __getattr__(self, name: str) -> str | None:
        if name not in _FIELDS:
            raise AttributeError(name)
        return self._fields.get(name)


class _Option(Structure):  # PQconninfoOption
    _fields_ = [("keyword", c_char_p), ("envvar", c_char_p), ("compiled", c_char_p), ("val", c_char_p),
                ("label", c_char_p), ("dispchar", c_char_p), ("dispsize", c_int)]  # fmt: skip


_NOTICE_RECEIVER = ctypes.CFUNCTYPE(None, c_void_p, c_void_p)  # void (*)(void *arg, const PGresult *res)


def _candidates() -> list[str]:
    """psycopg-binary's bundled libpq (what psycopg itself loads), then the system's."""
    found = []
    for entry in sys.path:
        for folder in ("psycopg_binary.libs", os.path.join("psycopg_binary", ".dylibs")):
            try:
                names = sorted(os.listdir(os.path.join(entry or ".", folder)))
            except OSError:
                continue
            found += [os.path.join(entry or ".", folder, name) for name in names
                      if name.startswith("libpq") and (".so" in name or name.endswith((".dylib", ".dll")))]
    return [*found, "libpq.so.5", "libpq.5.dylib", "libpq.dll"]


def _load() -> ctypes.CDLL:
    for name in _candidates():
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            continue
    else:
        from ctypes.util import find_library  # slow (it may run ldconfig): only when the usual names fail

        name = find_library("pq") or ""
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            raise ImportError("libpq not found (psycopg needs it too: pip install 'psycopg[binary]')") from None
    signatures = {
        "PQconninfoParse": ([c_char_p, POINTER(c_char_p)], POINTER(_Option)),
        "PQconninfoFree": ([POINTER(_Option)], None),
        "PQfreemem": ([c_void_p], None),
        "PQconnectdbParams": ([POINTER(c_char_p), POINTER(c_char_p), c_int], c_void_p),
        "PQstatus": ([c_void_p], c_int),
        "PQerrorMessage": ([c_void_p], c_char_p),
        "PQfinish": ([c_void_p], None),
        "PQexecParams": ([c_void_p, c_char_p, c_int, c_void_p, POINTER(c_char_p), c_void_p, c_void_p, c_int],
                         c_void_p),
        "PQresultStatus": ([c_void_p], c_int),
        "PQresultErrorField": ([c_void_p, c_int], c_char_p),
        "PQresultErrorMessage": ([c_void_p], c_char_p),
        "PQntuples": ([c_void_p], c_int),
        "PQnfields": ([c_void_p], c_int),
        "PQgetisnull": ([c_void_p, c_int, c_int], c_int),
        "PQgetlength": ([c_void_p, c_int, c_int], c_int),
        "PQgetvalue": ([c_void_p, c_int, c_int], c_void_p),
        "PQclear": ([c_void_p], None),
        "PQputCopyData": ([c_void_p, c_char_p, c_int], c_int),
        "PQputCopyEnd": ([c_void_p, c_char_p], c_int),
        "PQgetResult": ([c_void_p], c_void_p),
        "PQbackendPID": ([c_void_p], c_int),
        "PQsetNoticeReceiver": ([c_void_p, _NOTICE_RECEIVER, c_void_p], c_void_p),
        "PQconsumeInput": ([c_void_p], c_int),
        "PQisBusy": ([c_void_p], c_int),
    }  # fmt: skip
    for function, (argtypes, restype) in signatures.items():
        getattr(lib, function).argtypes = argtypes
        getattr(lib, function).restype = restype
    return lib


_lib: ctypes.CDLL | None = None


def _libpq() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        _lib = _load()
    return _lib


def _text(raw: bytes | None) -> str:
    return raw.decode("utf-8", "replace") if raw is not None else ""


def _bytes(text: str) -> bytes:
    # surrogateescape: the environment's bytes as they were (os.environ decodes undecodable ones that way).
    return text.encode("utf-8", "surrogateescape")


def conninfo_error(conninfo: str) -> str | None:
    """Why libpq cannot parse this connection string (a URI or key=value pairs), or None when it can."""
    lib = _libpq()
    message = c_char_p()
    options = lib.PQconninfoParse(_bytes(conninfo), byref(message))
    if options:
        lib.PQconninfoFree(options)
        return None
    if not message.value:
        raise MemoryError("libpq could not parse the connection string: out of memory")
    reason = _text(message.value).strip()
    lib.PQfreemem(message)
    return reason or "not a connection string"


class Connection:
    """One session; statements run in autocommit mode (each is its own transaction)."""

    def __init__(self, conninfo: str, *, connect_timeout: int = 10) -> None:
        lib = _libpq()
        self.url = conninfo
        self._server_error: Error | None = None  # what the server said outside a result (see below)
        # dbname is expanded as the whole conninfo; the keywords after it override what it says.
        settings = {"dbname": conninfo, "connect_timeout": str(connect_timeout), "client_encoding": "UTF8"}
        keywords = (c_char_p * (len(settings) + 1))(*[k.encode() for k in settings], None)
        values = (c_char_p * (len(settings) + 1))(*[_bytes(v) for v in settings.values()], None)
        self._pgconn = lib.PQconnectdbParams(keywords, values, 1)
        if not self._pgconn:
            raise MemoryError("libpq could not allocate a connection")
        if lib.PQstatus(self._pgconn) != CONNECTION_OK:
            message = _text(lib.PQerrorMessage(self._pgconn))
            self.close()
            raise Error(message.strip() or "connection failed")
        # What the server says outside a statement's result (a notice; the error that ends a session an
        # administrator terminated) is kept, not printed on stderr as libpq's default does.
        self._receiver = _NOTICE_RECEIVER(self._notice)
        lib.PQsetNoticeReceiver(self._pgconn, self._receiver, None)

    def execute(self, query: str, params: tuple | dict = (), *, binary: bool = False) -> list[tuple]:
        """Run one statement with `%s` placeholders bound to the tuple `params`, or `%(name)s` ones bound to the
        dict `params` (the named queries' styles), each value sent as text (None is NULL, a list an array); its
        rows, each value a str (bytes with `binary`, for bytea) or None."""
        lib = _libpq()
        self._check_alive()
        query, ordered = _numbered(query, params)
        texts = [None if p is None else _bytes(_param(p)) for p in ordered]
        if any(t is not None and b"\0" in t for t in texts):  # libpq would send the text up to the NUL only
            raise Error("PostgreSQL text cannot hold a NUL (0x00) character", "22021",
                        Diagnostic({"message_primary": "PostgreSQL text cannot hold a NUL (0x00) character"}))
        values = (c_char_p * max(len(ordered), 1))(*texts)
        result = lib.PQexecParams(self._pgconn, _bytes(query), len(ordered), None, values, None, None,
                                  int(binary))  # fmt: skip
        try:
            status = lib.PQresultStatus(result) if result else -1
            if status not in (PGRES_TUPLES_OK, PGRES_COMMAND_OK):
                raise self._error(result)
            rows = []
            for row in range(lib.PQntuples(result)):
                rows.append(tuple(self._value(result, row, column, binary)
                                  for column in range(lib.PQnfields(result))))  # fmt: skip
            return rows
        finally:
            if result:
                lib.PQclear(result)

    @property
    def backend_pid(self) -> int:
        return _libpq().PQbackendPID(self._pgconn)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN; COMMIT when the block ends, ROLLBACK when it raises (the block's exception is what surfaces,
        whatever the rollback meets on a lost connection)."""
        self.execute("BEGIN")
        try:
            yield
        except BaseException:
            with contextlib.suppress(Error):
                self.execute("ROLLBACK")
            raise
        self.execute("COMMIT")

    @contextlib.contextmanager
    def copy_in(self, query: str) -> Iterator[CopyIn]:
        """Run a `COPY ... FROM STDIN` statement: write its data (COPY text) to what the block is given. The COPY
        ends when the block does, and fails (nothing stored) when the block raises."""
        lib = _libpq()
        self._check_alive()
        result = lib.PQexecParams(self._pgconn, _bytes(query), 0, None, None, None, None, 0)
        try:
            if (lib.PQresultStatus(result) if result else -1) != PGRES_COPY_IN:
                raise self._error(result)
        finally:
            if result:
                lib.PQclear(result)
        copy = CopyIn(self)
        try:
            yield copy
        except BaseException:
            with contextlib.suppress(Error):
                copy.end(failure="the client stopped the COPY")
            raise
        copy.end()

    @staticmethod
    def _value(result, row: int, column: int, binary: bool) -> str | bytes | None:
        lib = _libpq()
        if lib.PQgetisnull(result, row, column):
            return None
        raw = ctypes.string_at(lib.PQgetvalue(result, row, column), lib.PQgetlength(result, row, column))
        return raw if binary else raw.decode("utf-8", "replace")

    def _error(self, result) -> Error:
        lib = _libpq()
        if not result:
            return Error(_text(lib.PQerrorMessage(self._pgconn)).strip() or "no result")
        fields = {}
        for name, code in _FIELDS.items():
            raw = lib.PQresultErrorField(result, ord(code))
            fields[name] = _text(raw) if raw is not None else None
        if fields["sqlstate"] is None:  # the client side failed: the connection went, perhaps after saying why
            if self._said_why() is not None:
                return self._server_error
            return Error(self._lost_message() or _text(lib.PQresultErrorMessage(result)).strip() or "no result")
        message = fields["message_primary"] or _text(lib.PQresultErrorMessage(result)).strip()
        return Error(message or "statement failed", fields["sqlstate"], Diagnostic(fields))

    def _notice(self, arg, result) -> None:
        severity = _libpq().PQresultErrorField(result, ord("V"))
        if severity in (b"ERROR", b"FATAL", b"PANIC"):
            self._server_error = self._error(result)

    def _failure(self, what: str) -> Error:
        """Why a send failed: the server's error if it said one before the connection went (a session
        terminated by an administrator, a server shutting down), else libpq's own account."""
        lib = _libpq()
        while result := lib.PQgetResult(self._pgconn):
            try:
                if self._server_error is None and lib.PQresultErrorField(result, ord("C")) is not None:
                    self._server_error = self._error(result)
            finally:
                lib.PQclear(result)
        return self._said_why() or Error(self._lost_message() or what)

    def _lost_message(self) -> str:
        """libpq's account of a failed connection; when the server's last words are in it as text (a line
        `FATAL:  ...`), those words."""
        message = _text(_libpq().PQerrorMessage(self._pgconn)).strip()
        for line in message.splitlines():
            severity, colon, words = line.partition(":  ")
            if colon and severity in ("FATAL", "PANIC", "ERROR"):
                return words.strip()
        return message

    def _check_alive(self) -> None:
        """Raise the error the server ended this session with, if it did while the session was idle (a session
        an administrator terminated, a server shutting down): then that, not libpq's "server closed the
        connection unexpectedly" on the next statement, is what went wrong."""
        if self._said_why() is not None:
            raise self._server_error

    def _said_why(self) -> Error | None:
        """The error the server sent before the connection failed, if it sent one: what libpq has read but not
        parsed yet is parsed (an error outside a statement reaches the notice receiver)."""
        if self._server_error is None and self._pgconn:
            lib = _libpq()
            lib.PQconsumeInput(self._pgconn)
            lib.PQisBusy(self._pgconn)
        return self._server_error

    def close(self) -> None:
        if self._pgconn:
            _libpq().PQfinish(self._pgconn)
            self._pgconn = None

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class CopyIn:
    """The data side of a running `COPY ... FROM STDIN` (Connection.copy_in). libpq sends with the GIL
    released, so the threads that parse keep running while the server takes the data."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def write(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8")
        lib, pgconn = _libpq(), self._conn._pgconn
        view = memoryview(data)
        for start in range(0, len(view), _COPY_PIECE):  # a c_int length: sent in pieces
            piece = bytes(view[start : start + _COPY_PIECE]) if len(view) > _COPY_PIECE else data
            if lib.PQputCopyData(pgconn, piece, len(piece)) != 1:
                raise self._conn._failure("COPY data could not be sent")

    def end(self, failure: str | None = None) -> None:
        """End the COPY: stored, or (with `failure`) abandoned; raises the server's error if it refused it."""
        lib, conn = _libpq(), self._conn
        if lib.PQputCopyEnd(conn._pgconn, None if failure is None else _bytes(failure)) != 1:
            raise conn._failure("COPY could not be ended")
        error = None
        while result := lib.PQgetResult(conn._pgconn):  # the COPY's outcome, then NULL
            if error is None and lib.PQresultStatus(result) != PGRES_COMMAND_OK:
                error = conn._error(result)
            lib.PQclear(result)
        if error is not None and failure is None:
            raise error


_COPY_PIECE = 1 << 30


def _param(value: object) -> str:
    """A parameter as the text PostgreSQL reads it: a list (of numbers or texts) as an array literal."""
    if isinstance(value, list):
        return array_literal(value)
    return str(value)


def array_literal(values: list) -> str:
    """`{1,2}` / `{"a","b \\"c\\""}`: a list of ints, texts or Nones as PostgreSQL's array input reads it."""
    items = []
    for v in values:
        if v is None:
            items.append("NULL")
        elif isinstance(v, str):
            items.append('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"')
        else:
            items.append(str(int(v)))
    return "{" + ",".join(items) + "}"


_PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?(s|%)")


def _numbered(query: str, params: tuple | dict) -> tuple[str, list]:
    """psycopg's placeholders (which sql/queries/ uses) as libpq's `$1`, `$2`, ... and the values in their
    order: `%s` takes the tuple's next value, `%(name)s` the dict's (one number per name); `%%` is a `%`."""
    ordered: list = []
    numbers: dict[str, str] = {}

    def number(match: re.Match) -> str:
        name, kind = match.groups()
        if kind == "%":
            return "%"
        if name is None:
            ordered.append(params[len(ordered)])
            return f"${len(ordered)}"
        if name not in numbers:
            ordered.append(params[name])
            numbers[name] = f"${len(ordered)}"
        return numbers[name]

    return _PLACEHOLDER.sub(number, query), ordered
