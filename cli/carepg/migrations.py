"""Running the Alembic migrations from Python (`carepg migrate`, the test template, the demo), and knowing, without
Alembic, which revision this code needs.

Alembic and SQLAlchemy cost ~0.3 s and ~30 MB to import, so only running a migration loads them. The revision
chain is read from the revision files themselves (`revision = "..."`, `down_revision = "..."`), which is what
every command's revision check (db.py) and `carepg migrate`'s argument check need;
tests/test_migrations.py checks that it is Alembic's.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sys
import time
from collections.abc import Iterator

from . import db, paths
from .errors import MIGRATE_HINT, CarepgError, InvalidInput, SchemaAhead, SchemaMissing, from_database

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on every command's start
if TYPE_CHECKING:
    import psycopg
    from alembic.config import Config

# The session-level advisory lock migrators take turns on (alembic/env.py): ('care' as an int4, 1).
MIGRATION_LOCK = (0x63617265, 1)
# Where Alembic records the revision a database is at (one row per head; carepg has one head).
REVISION_QUERY = "SELECT version_num FROM public.alembic_version"


def apply(revision_file: str, *, down: bool = False) -> None:
    """Body of every revision: run the frozen file of sql/migrations/ named like the revision, as it is.

    `apply(__file__)` in alembic/versions/0090_x.py runs sql/migrations/0090_x.sql, and with `down=True`
    0090_x.down.sql, so a revision never names its file. A name ending in .sql is run as it is (a revision with a
    second file, such as 0020's reference rows). The text goes straight to psycopg (no SQLAlchemy text() parsing of
    colons or percent signs), inside the revision's transaction.
    """
    from pathlib import Path

    from alembic import context, op

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
    import psycopg

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
    from alembic.config import Config

    cfg = Config(str(paths.ALEMBIC_INI))
    cfg.set_main_option("script_location", str(paths.ALEMBIC_DIR))
    if url:
        cfg.attributes["url"] = url
    return cfg


# Each step is one transaction (alembic/env.py). When PostgreSQL picks a step as the victim of a deadlock with the
# live application (the two lock the same tables in another order), the step rolled back whole, and running the
# command again resumes after the last step that committed.
DEADLOCK_RETRIES = 3


def upgrade(url: str, revision: str = "head") -> None:
    _migrate(url, revision, "upgrade")


def downgrade(url: str, revision: str) -> None:
    _migrate(url, revision, "downgrade")


def _migrate(url: str, revision: str, direction: str) -> None:
    import psycopg
    from alembic import command
    from sqlalchemy.exc import DBAPIError

    check_target(revision)
    _refuse_a_newer_database(url)
    run = getattr(command, direction)
    with _translated_errors(revision):
        target = _pinned(url, revision)  # -1 must not become -2 when a step committed before the deadlock
        for attempt in range(DEADLOCK_RETRIES + 1):
            try:
                run(config(url), target)
                return
            except (psycopg.Error, DBAPIError) as exc:  # a step's SQL runs on psycopg itself (apply)
                error = exc.orig if isinstance(exc, DBAPIError) else exc
                if attempt == DEADLOCK_RETRIES or getattr(error, "sqlstate", None) != "40P01":
                    raise
            time.sleep(0.1 * (attempt + 1))


def _pinned(url: str, revision: str) -> str:
    """A step relative to where the database is (+N, -N) as the revision it names now; anything else as it is."""
    if not re.fullmatch(r"[+-][0-9]+", revision):
        return revision
    known = revisions()
    at = current(url)
    index = (known.index(at) if at in known else -1) + int(revision)
    if index == -1:
        return "base"
    return known[index] if 0 <= index < len(known) else revision  # out of range: Alembic's own refusal


def _refuse_a_newer_database(url: str) -> None:
    """SchemaAhead for a database a newer carepg migrated: no revision of this code leads anywhere from there."""
    try:
        with db.connect(url) as conn:
            db.check_revision(conn)
    except SchemaAhead:
        raise
    except SchemaMissing:  # not migrated, or behind: what migrating is for
        pass


def check_target(revision: str) -> str:
    """head, base, a revision id, or a step relative to where the database is (+1, -2): nothing else."""
    known = revisions()
    if revision in ("head", "base", *known) or re.fullmatch(r"[+-][1-9][0-9]{0,2}", revision):
        return revision
    raise InvalidInput(f"cannot migrate to {revision[:40]!r}: use head, base, +N, -N or one of {', '.join(known)}")


@functools.cache
def revisions() -> list[str]:
    """Every revision id, oldest first, as the revision files chain them (the same list as Alembic's)."""
    revises: dict[str, str | None] = {}
    versions = os.path.join(paths.location("ALEMBIC_DIR"), "versions")
    for name in os.listdir(versions):
        if name.endswith(".py"):
            with open(os.path.join(versions, name), encoding="utf-8") as fh:
                found = _assignments(fh.read(), ("revision", "down_revision"))
            if "revision" in found and "down_revision" in found:
                revises[found["revision"]] = found["down_revision"]  # type: ignore[index]
    chain: list[str] = []
    following = {down: rev for rev, down in revises.items()}
    current = following.get(None)
    while current is not None and current not in chain:
        chain.append(current)
        current = following.get(current)
    return chain


def _assignments(source: str, names: tuple[str, ...]) -> dict[str, str | None]:
    """`name = "value"` (or `name: type = ...`, or `= None`) at the start of a line, for each of `names`."""
    found: dict[str, str | None] = {}
    for line in source.splitlines():
        target, equals, value = line.partition("=")
        name = target.split(":", 1)[0].strip()
        if equals and name in names and name not in found and target[:1] not in (" ", "\t"):
            value = value.split("#", 1)[0].strip()
            found[name] = None if value == "None" else value.strip("\"'")
    return found


def head() -> str:
    """The revision this code needs the database to be at."""
    return revisions()[-1]


def revision_problem(versions: list[str] | None) -> CarepgError | None:
    """What is wrong, for this code, with a database whose alembic_version holds `versions` (None: it has no such
    table); None when it is at this code's head."""
    known, wanted = revisions(), head()
    if not versions:
        return SchemaMissing(f"the database has no carepg schema (this carepg needs revision {wanted}): "
                             f"{MIGRATE_HINT}")  # fmt: skip
    if versions == [wanted]:
        return None
    unknown = [v for v in versions if v not in known]
    if unknown:
        return SchemaAhead(
            f"the database is at carepg revision {', '.join(unknown)}, which this carepg (revision {wanted}) does not "
            f"know: a newer carepg migrated it; run that carepg, or upgrade this one"
        )
    return SchemaMissing(f"the database is at carepg revision {', '.join(versions)}, this carepg needs {wanted}: "
                         f"{MIGRATE_HINT}")  # fmt: skip


@contextlib.contextmanager
def _translated_errors(revision: str) -> Iterator[None]:
    """Alembic's and SQLAlchemy's errors a user can cause, as one line each (db.translated_errors for the rest)."""
    import psycopg
    from alembic.script.revision import RevisionError
    from alembic.util.exc import CommandError
    from sqlalchemy.exc import DBAPIError

    try:
        with db.translated_errors():
            yield
    except (CommandError, RevisionError) as exc:  # e.g. -5 from revision 0003
        raise InvalidInput(
            f"cannot migrate to {revision!r}: {str(exc).splitlines()[0]} (use head, base, +N, -N or one of "
            f"{', '.join(revisions())})"
        ) from None
    except DBAPIError as exc:
        mapped = from_database(exc.orig) if isinstance(exc.orig, psycopg.Error) else None
        if mapped is None:
            raise
        raise mapped from None


def current(url: str) -> str | None:
    """The revision the database is at (None: never migrated)."""
    with db.connect(url) as conn, db.translated_errors():
        exists = conn.execute("SELECT to_regclass('public.alembic_version') IS NOT NULL").fetchone()[0]
        if not exists:
            return None
        row = conn.execute(REVISION_QUERY).fetchone()
        return row[0] if row else None


def sql_preview(revision: str = "head") -> str:
    """The SQL `alembic upgrade --sql` would run (offline mode); no database needed."""
    import io
    from contextlib import redirect_stdout

    from alembic import command

    out = io.StringIO()
    with redirect_stdout(out):
        command.upgrade(config(), revision, sql=True)
    return out.getvalue()


def __getattr__(name: str):
    if name == "ScriptDirectory":  # Alembic's, for callers that walk the revisions themselves (tests)
        from alembic.script import ScriptDirectory

        return ScriptDirectory
    raise AttributeError(name)


__all__ = ["ScriptDirectory", "apply", "config", "current", "downgrade", "head", "lock", "revision_problem",
           "revisions", "upgrade"]
