"""Running the Alembic migrations from Python (`carepg migrate`, the test template, the demo)."""

from __future__ import annotations

import io
from contextlib import redirect_stdout

from alembic import command, context, op
from alembic.config import Config
from alembic.script import ScriptDirectory

from . import db, paths


def apply(filename: str) -> None:
    """Body of every revision: run one frozen file from sql/migrations/ as it is.

    The text goes straight to psycopg (no SQLAlchemy text() parsing of colons or percent signs), inside the
    revision's transaction.
    """
    sql = paths.sql_text(f"migrations/{filename}")
    if context.is_offline_mode():
        op.execute(sql)
        return
    op.get_bind().connection.driver_connection.execute(sql)


def config(url: str | None = None) -> Config:
    cfg = Config(str(paths.ALEMBIC_INI))
    cfg.set_main_option("script_location", str(paths.ALEMBIC_DIR))
    if url:
        cfg.attributes["url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    with db.translated_errors():
        command.upgrade(config(url), revision)


def downgrade(url: str, revision: str) -> None:
    with db.translated_errors():
        command.downgrade(config(url), revision)


def head() -> str:
    return ScriptDirectory.from_config(config()).get_current_head()


def current(url: str) -> str | None:
    """The revision the database is at (None: never migrated)."""
    with db.connect(url) as conn:
        exists = conn.execute("SELECT to_regclass('public.alembic_version') IS NOT NULL").fetchone()[0]
        if not exists:
            return None
        row = conn.execute("SELECT version_num FROM public.alembic_version").fetchone()
        return row[0] if row else None


def sql_preview(revision: str = "head") -> str:
    """The SQL `alembic upgrade --sql` would run (offline mode); no database needed."""
    out = io.StringIO()
    with redirect_stdout(out):
        command.upgrade(config(), revision, sql=True)
    return out.getvalue()


__all__ = ["ScriptDirectory", "apply", "config", "current", "downgrade", "head", "upgrade"]
