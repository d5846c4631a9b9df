"""Running the Alembic migrations from Python (`carepg migrate`, the test template, the demo)."""

from __future__ import annotations

import contextlib
import io
import re
import sys
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path

import psycopg
from alembic import command, context, op
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util.exc import CommandError

from . import db, paths
from .errors import InvalidInput, from_database

# The session-level advisory lock migrators take turns on (alembic/env.py): ('care' as an int4, 1).
MIGRATION_LOCK = (0x63617265, 1)


def apply(revision_file: str, *, down: bool = False) -> None:
    """Body of every revision: run the frozen file of sql/migrations/ named like the revision, as it is.

    `apply(__file__)` in alembic/versions/0090_x.py runs sql/migrations/0090_x.sql, and with `down=True`
    0090_x.down.sql, so a revision never names its file. A name ending in .sql is run as it is (a revision with a
    second file, such as 0020's reference rows). The text goes straight to psycopg (no SQLAlchemy text() parsing of
    colons or percent signs), inside the revision's transaction.
    """
    if revision_file.endswith(".sql"):
        filename = revision_file
    else:
        filename = Path(revision_file).stem + (".down.sql" if down else ".sql")
    sql = paths.sql_text(f"migrations/{filename}")
    if context.is_offline_mode():
        op.execute(sql)
        return
    op.get_bind().connection.driver_connection.execute(sql)


@contextlib.contextmanager
def lock(conn: psycopg.Connection) -> Iterator[None]:
    """Hold the migration lock (waiting for another migrator if need be); the connection is idle on entry."""
    if not conn.execute("SELECT pg_try_advisory_lock(%s, %s)", MIGRATION_LOCK).fetchone()[0]:
        sys.stderr.write("waiting for another migration of this database to finish...\n")
        conn.execute("SELECT pg_advisory_lock(%s, %s)", MIGRATION_LOCK)
    conn.commit()  # a session lock outlives the transaction; Alembic must start from an idle connection
    try:
        yield
    finally:
        with contextlib.suppress(psycopg.Error):  # a broken connection releases the lock as it closes
            conn.rollback()
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", MIGRATION_LOCK)
            conn.commit()


def config(url: str | None = None) -> Config:
    cfg = Config(str(paths.ALEMBIC_INI))
    cfg.set_main_option("script_location", str(paths.ALEMBIC_DIR))
    if url:
        cfg.attributes["url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    with _translated_errors(_checked(revision)):
        command.upgrade(config(url), revision)


def downgrade(url: str, revision: str) -> None:
    with _translated_errors(_checked(revision)):
        command.downgrade(config(url), revision)


def _checked(revision: str) -> str:
    """head, base, a revision id, or a step relative to where the database is (+1, -2): nothing else."""
    known = revisions()
    if revision in ("head", "base", *known) or re.fullmatch(r"[+-][1-9][0-9]{0,2}", revision):
        return revision
    raise InvalidInput(f"cannot migrate to {revision[:40]!r}: use head, base, +N, -N or one of {', '.join(known)}")


def revisions() -> list[str]:
    """Every revision id, oldest first."""
    return [r.revision for r in reversed(list(ScriptDirectory.from_config(config()).walk_revisions()))]


@contextlib.contextmanager
def _translated_errors(revision: str) -> Iterator[None]:
    """Alembic's and SQLAlchemy's errors a user can cause, as one line each (db.translated_errors for the rest)."""
    from sqlalchemy.exc import DBAPIError

    try:
        with db.translated_errors():
            yield
    except (CommandError, RevisionError) as exc:  # e.g. -5 from revision 0003, or a database ahead of this code
        raise InvalidInput(
            f"cannot migrate to {revision!r}: {str(exc).splitlines()[0]} (use head, base, +N, -N or one of "
            f"{', '.join(revisions())})"
        ) from None
    except DBAPIError as exc:
        mapped = from_database(exc.orig) if isinstance(exc.orig, psycopg.Error) else None
        if mapped is None:
            raise
        raise mapped from None


def head() -> str:
    return ScriptDirectory.from_config(config()).get_current_head()


def current(url: str) -> str | None:
    """The revision the database is at (None: never migrated)."""
    with db.connect(url) as conn, db.translated_errors():
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


__all__ = ["ScriptDirectory", "apply", "config", "current", "downgrade", "head", "lock", "upgrade"]
