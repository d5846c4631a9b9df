"""Where the SQL and the migrations are: beside the package in a checkout, inside it in a wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent.parent  # cli/carepg -> repository root


def _pick(in_checkout: Path, in_wheel: Path) -> Path:
    return in_checkout if in_checkout.exists() else in_wheel


SQL_DIR = _pick(_CHECKOUT / "sql", _PACKAGE / "_sql")
ALEMBIC_DIR = _pick(_CHECKOUT / "alembic", _PACKAGE / "_alembic")
ALEMBIC_INI = _pick(_CHECKOUT / "alembic.ini", _PACKAGE / "_alembic.ini")


def sql_text(relative: str) -> str:
    """The text of a file under sql/, e.g. sql_text("migrations/0001_challenge_schema.sql")."""
    return (SQL_DIR / relative).read_text(encoding="utf-8")


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
