"""A small libpq client over ctypes, for the commands that must start as fast as psql does.

Importing psycopg costs ~90 ms, more than psql takes to answer `carepg shifts`' question whole; loading libpq
itself costs ~3 ms. This module is what `carepg shifts` (and the check of a DATABASE_URL's syntax) needs, and
nothing more: parse a conninfo, connect, run one statement with text parameters, read its rows, and report a
failure with the SQLSTATE and the fields psycopg's `Diagnostic` has, so errors.py maps it the same way. Every
other command uses psycopg.

It loads the libpq psycopg uses: the one bundled with psycopg-binary when it is installed, else the system's.
"""

from __future__ import annotations

import ctypes
import os
import re
import sys
from ctypes import POINTER, Structure, byref, c_char_p, c_int, c_void_p

CONNECTION_OK = 0
PGRES_COMMAND_OK = 1
PGRES_TUPLES_OK = 2
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

    def execute(self, query: str, params: tuple = (), *, binary: bool = False) -> list[tuple]:
        """Run one statement with `%s` placeholders (the named queries' style) bound to `params` as text (None
        is NULL); its rows, each value a str (bytes with `binary`, for bytea) or None."""
        lib = _libpq()
        values = (c_char_p * max(len(params), 1))(*[None if p is None else _bytes(str(p)) for p in params])
        result = lib.PQexecParams(self._pgconn, _bytes(_numbered(query)), len(params), None, values, None, None,
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
        message = fields["message_primary"] or _text(lib.PQresultErrorMessage(result)).strip()
        return Error(message or "statement failed", fields["sqlstate"], Diagnostic(fields))

    def close(self) -> None:
        if self._pgconn:
            _libpq().PQfinish(self._pgconn)
            self._pgconn = None

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_PLACEHOLDER = re.compile(r"%(s|%)")


def _numbered(query: str) -> str:
    """`%s` placeholders (psycopg's, which sql/queries/ uses) as libpq's `$1`, `$2`, ...; `%%` is a `%`."""
    count = 0

    def number(match: re.Match) -> str:
        nonlocal count
        if match.group(1) == "%":
            return "%"
        count += 1
        return f"${count}"

    return _PLACEHOLDER.sub(number, query)
