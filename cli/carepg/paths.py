"""Where the SQL and the migrations are: beside the package in a checkout, inside it in a wheel.

SQL_DIR, ALEMBIC_DIR and ALEMBIC_INI are pathlib Paths, made on first use: pathlib (with the urllib.parse and
ipaddress it imports) is a tenth of what `carepg shifts` may take to start, and reading a file needs only os.path.
"""

from __future__ import annotations

import os

_PACKAGE = os.path.dirname(os.path.realpath(__file__))
_CHECKOUT = os.path.dirname(os.path.dirname(_PACKAGE))  # cli/carepg -> repository root


def _pick(in_checkout: str, in_wheel: str) -> str:
    return in_checkout if os.path.exists(in_checkout) else in_wheel


_LOCATIONS = {
    "SQL_DIR": _pick(os.path.join(_CHECKOUT, "sql"), os.path.join(_PACKAGE, "_sql")),
    "ALEMBIC_DIR": _pick(os.path.join(_CHECKOUT, "alembic"), os.path.join(_PACKAGE, "_alembic")),
    "ALEMBIC_INI": _pick(os.path.join(_CHECKOUT, "alembic.ini"), os.path.join(_PACKAGE, "_alembic.ini")),
}


def __getattr__(name: str):
    if name in _LOCATIONS:
        from pathlib import Path

        return Path(_LOCATIONS[name])
    raise AttributeError(name)


def location(name: str) -> str:
    """SQL_DIR, ALEMBIC_DIR or ALEMBIC_INI as a plain string."""
    return _LOCATIONS[name]


def sql_text(relative: str) -> str:
    """The text of a file under sql/, e.g. sql_text("migrations/0001_challenge_schema.sql")."""
    with open(os.path.join(_LOCATIONS["SQL_DIR"], relative), encoding="utf-8") as fh:
        return fh.read()


def named_queries(relative: str) -> dict[str, str]:
    """Queries from a file of `-- name: NAME` sections (the procrastinate convention)."""
    queries: dict[str, str] = {}
    name = None
    lines: list[str] = []
    for line in sql_text(relative).splitlines():
        if line.startswith("-- name:"):
            if name:
                queries[name] = "\n".join(lines).strip()
            name, lines = line.split(":", 1)[1].strip(), []
        elif name:
            lines.append(line)
    if name:
        queries[name] = "\n".join(lines).strip()
    return queries


def install_files() -> list[str]:
    """The current-definition files under sql/, in the order sql/install.sql includes them (`\\ir` lines)."""
    return [
        line.split(None, 1)[1].strip()
        for line in sql_text("install.sql").splitlines()
        if line.startswith("\\ir ")
    ]
