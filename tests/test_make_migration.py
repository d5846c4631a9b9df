"""`make migration NAME=...` in a copy of this checkout: an edit of a current file and the command are the whole change.

Each case edits sql/<schema>/ the way a contributor does, runs the make target, and then proves what
tests/test_schema_files.py and tests/test_migrations.py prove, on the copy: the migrations build exactly what the
current files build, sql/schema.sql is that dump, and the new revision's downgrade gives back exactly the revision
before it. The last test runs those two files' checks of the revisions on the copy. The cases build on each other
(one revision each), in file order.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import schema_dump
from carepg import migrations, paths
from conftest import url_for

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(sys.executable).parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout's files as a clone has them (tracked and new ones; nothing ignored: no .venv, no cluster)."""
    target = tmp_path_factory.mktemp("checkout") / "carepg"
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    return target


SERVER: list[str] = []  # the session's server, where the command builds its databases (set by on_checkout)


@pytest.fixture
def on_checkout(checkout: Path, monkeypatch: pytest.MonkeyPatch, pg_cluster) -> Iterator[Path]:
    """carepg's migrations, current files and dump read from the copy within this test."""
    SERVER[:] = [pg_cluster.url("postgres")]
    for name, path in (("SQL_DIR", checkout / "sql"), ("ALEMBIC_DIR", checkout / "alembic"),
                       ("ALEMBIC_INI", checkout / "alembic.ini")):
        monkeypatch.setitem(paths._LOCATIONS, name, str(path))
    monkeypatch.setattr(schema_dump, "SCHEMA_FILE", checkout / "sql" / "schema.sql")
    migrations.revisions.cache_clear()  # the revision chain is read once per process: read the copy's
    yield checkout
    migrations.revisions.cache_clear()


def make_migration(checkout: Path, name: str) -> subprocess.CompletedProcess:
    """`make migration NAME=name SERVER=<the session's server>` in the copy, with this session's Python (the copy's
    own carepg first on the path); the venv's install stamp is taken as it is, so make never reinstalls anything."""
    stamp = VENV / ".carepg-installed"
    return subprocess.run(
        ["make", "--no-print-directory", "-o", str(stamp), "migration", f"NAME={name}", f"VENV={VENV}",
         f"SERVER={SERVER[0]}"],
        cwd=checkout, env={**os.environ, "PYTHONPATH": str(checkout / "cli")}, capture_output=True, text=True,
    )  # fmt: skip


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not once in {path}"
    path.write_text(text.replace(old, new))


@pytest.fixture
def database(pg_server) -> Iterator:
    names = []

    def create(label: str) -> str:
        name = f"carepg_make_migration_{label}_{len(names)}"
        with psycopg.connect(url_for(pg_server.host, pg_server.port, "postgres"), autocommit=True) as conn:
            conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
        names.append(name)
        return url_for(pg_server.host, pg_server.port, name)

    yield create
    with psycopg.connect(url_for(pg_server.host, pg_server.port, "postgres"), autocommit=True) as conn:
        for name in names:
            conn.execute(psycopg.sql.SQL("DROP DATABASE {} WITH (FORCE)").format(psycopg.sql.Identifier(name)))


def migrate_and_check(checkout: Path, name: str, database, bindir: Path) -> tuple[str, str]:
    """Run the command, then check its revision as the schema and migration tests do; returns (migrated database
    URL, the revision before)."""
    previous = migrations.head()
    result = make_migration(checkout, name)
    assert result.returncode == 0, result.stderr
    migrations.revisions.cache_clear()  # the command wrote a revision file
    rev = migrations.head()
    assert rev != previous and f"wrote sql/migrations/{rev}_{name}.sql" in result.stdout
    revision_file = (checkout / "alembic" / "versions" / f"{rev}_{name}.py").read_text()
    assert "apply(__file__)" in revision_file and f'down_revision = "{previous}"' in revision_file

    migrated, current, before = database("migrated"), database("current"), database("before")
    migrations.upgrade(migrated)
    schema_dump.install_current(current)
    for data in (False, True):
        assert schema_dump.dump(migrated, bindir, data=data) == schema_dump.dump(current, bindir, data=data)
    with psycopg.connect(migrated) as conn:
        major = conn.info.server_version // 10000
    if schema_dump.committed_major() == major:  # as test_migrations_produce_exactly_the_committed_schema
        assert schema_dump.dump(migrated, bindir) == schema_dump.SCHEMA_FILE.read_text()

    migrations.upgrade(before, previous)
    expected = [schema_dump.dump(before, bindir, data=data) for data in (False, True)]
    migrations.downgrade(migrated, previous)
    assert [schema_dump.dump(migrated, bindir, data=data) for data in (False, True)] == expected
    migrations.upgrade(migrated)
    return migrated, previous


def test_a_changed_comment(on_checkout, database, pg_cluster):
    edit(on_checkout / "sql/shifts/count_available_shifts.sql", "without paging through them.\nErrors:",
         "without paging through them; the same filters.\nErrors:")  # fmt: skip
    migrated, _ = migrate_and_check(on_checkout, "count_comment", database, pg_cluster.bindir)
    with psycopg.connect(migrated) as conn:
        comment = conn.execute("SELECT obj_description('shifts.count_available_shifts'::regproc)").fetchone()[0]
    assert "the same filters" in comment


def test_a_changed_function_body(on_checkout, database, pg_cluster):
    edit(on_checkout / "sql/shifts/release_shift.sql", "BEGIN\n", "BEGIN\n    -- one more line in the body\n")
    migrated, _ = migrate_and_check(on_checkout, "release_body", database, pg_cluster.bindir)
    with psycopg.connect(migrated) as conn:
        assert "one more line" in conn.execute("SELECT prosrc FROM pg_proc WHERE proname = 'release_shift'").fetchone()[0]


def test_an_added_grant_is_revoked_by_the_downgrade(on_checkout, database, pg_cluster):
    path = on_checkout / "sql/shifts/docs_ok.sql"
    edit(path, "\nRESET ROLE;", "\nGRANT EXECUTE ON FUNCTION shifts.docs_ok(integer, integer) TO carepg_reader;\n\nRESET ROLE;")
    migrated, previous = migrate_and_check(on_checkout, "docs_ok_readable", database, pg_cluster.bindir)
    allowed = "SELECT has_function_privilege('carepg_reader', 'shifts.docs_ok(integer, integer)', 'EXECUTE')"
    with psycopg.connect(migrated, autocommit=True) as conn:
        assert conn.execute(allowed).fetchone()[0]
    migrations.downgrade(migrated, previous)
    with psycopg.connect(migrated, autocommit=True) as conn:
        assert not conn.execute(allowed).fetchone()[0]


NEW_FUNCTION = """-- purpose: how many shifts a worker holds (a function the migration tests add).

SET LOCAL ROLE carepg_owner;

CREATE OR REPLACE FUNCTION shifts.claimed_shift_count(worker_id integer)
RETURNS bigint
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT count(*) FROM public."Shift" AS s WHERE s.worker_id = claimed_shift_count.worker_id AND NOT s.is_deleted
$function$;

COMMENT ON FUNCTION shifts.claimed_shift_count(integer) IS 'How many non-deleted shifts the worker holds.';
GRANT EXECUTE ON FUNCTION shifts.claimed_shift_count(integer) TO carepg_api, carepg_reader;

CREATE OR REPLACE FUNCTION shifts.claimed_hours(worker_id integer)
RETURNS double precision
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT coalesce(sum(extract(epoch FROM s."end" - s.start) / 3600), 0)
    FROM public."Shift" AS s WHERE s.worker_id = claimed_hours.worker_id AND NOT s.is_deleted
$function$;

COMMENT ON FUNCTION shifts.claimed_hours(integer) IS 'How many hours of non-deleted shifts the worker holds.';

RESET ROLE;
"""


def test_a_new_function_file(on_checkout, database, pg_cluster):
    (on_checkout / "sql/shifts/claimed_shift_count.sql").write_text(NEW_FUNCTION)
    result = make_migration(on_checkout, "claimed_count")
    assert result.returncode != 0 and "\\ir shifts/claimed_shift_count.sql" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 2 and "Traceback" not in result.stderr  # and make's own line
    edit(on_checkout / "sql/install.sql", "\\ir shifts/claimed_shifts.sql\n",
         "\\ir shifts/claimed_shifts.sql\n\\ir shifts/claimed_shift_count.sql\n")  # fmt: skip
    migrated, previous = migrate_and_check(on_checkout, "claimed_count", database, pg_cluster.bindir)
    exists = ("SELECT to_regprocedure('shifts.claimed_shift_count(integer)') IS NOT NULL"
              " AND to_regprocedure('shifts.claimed_hours(integer)') IS NOT NULL")
    with psycopg.connect(migrated, autocommit=True) as conn:
        assert conn.execute(exists).fetchone()[0]
    migrations.downgrade(migrated, previous)
    with psycopg.connect(migrated, autocommit=True) as conn:
        assert not conn.execute(exists).fetchone()[0]


def refused(checkout: Path, name: str) -> str:
    """Run the command expecting a refusal; nothing may be written. Returns the error lines (make's own dropped)."""
    before = {p: p.read_text() for p in (checkout / "sql").rglob("*.sql")}
    versions = sorted((checkout / "alembic" / "versions").glob("*.py"))
    result = make_migration(checkout, name)
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert {p: p.read_text() for p in (checkout / "sql").rglob("*.sql")} == before
    assert sorted((checkout / "alembic" / "versions").glob("*.py")) == versions
    return "\n".join(line for line in result.stderr.splitlines() if not line.startswith("make"))


def test_a_signature_changed_in_place_is_refused(on_checkout):
    path = on_checkout / "sql/shifts/claimed_shift_count.sql"
    original = path.read_text()
    path.write_text(original.replace("claimed_shift_count(worker_id integer)",
                                     "claimed_shift_count(worker_id integer, deleted boolean DEFAULT false)")
                            .replace("claimed_shift_count(integer)", "claimed_shift_count(integer, boolean)")
                            .replace("RETURNS double precision", "RETURNS numeric")
                            .replace("/ 3600), 0)", "/ 3600), 0)::numeric"))  # fmt: skip
    lines = refused(on_checkout, "count_deleted").splitlines()
    assert len(lines) == 2, lines
    assert "shifts.claimed_shift_count(worker_id integer) would become" in lines[0] and "_v2" in lines[0]
    assert "shifts.claimed_hours(worker_id integer) changes its result (double precision -> numeric)" in lines[1]
    assert "shifts.claimed_hours_v2" in lines[1]
    path.write_text(original)


def test_a_table_change_names_its_file_and_writes_nothing(on_checkout):
    path = on_checkout / "sql/mrf_private/lookup_entry.sql"
    original = path.read_text()
    edit(path, "CREATE TABLE mrf_private.lookup_entry (\n", "CREATE TABLE mrf_private.lookup_entry (\n    note text,\n")
    lines = refused(on_checkout, "lookup_note").splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: sql/mrf_private/lookup_entry.sql: table mrf_private.lookup_entry changed")
    assert "by hand" in lines[0]
    path.write_text(original)


def test_the_schema_and_migration_tests_accept_the_copy(on_checkout, database, pg_cluster, pg_server):
    """tests/test_schema_files.py's and tests/test_migrations.py's checks of the revisions themselves, run on the
    copy's files and its four new revisions (the others, about Alembic's lock, the challenge's own database and the
    command line, do not depend on the revisions)."""
    import test_migrations
    import test_schema_files

    assert len(migrations.revisions()) == len(list((ROOT / "alembic" / "versions").glob("*.py"))) + 4
    test_schema_files.test_current_files_build_the_same_database_as_the_migrations(pg_cluster)
    test_schema_files.test_install_lists_every_current_file_once()
    test_schema_files.test_every_current_file_says_what_it_is_for()
    migrated = database("migrated")
    migrations.upgrade(migrated)
    with psycopg.connect(migrated) as conn:
        test_schema_files.test_every_function_and_view_is_defined_in_exactly_one_current_file(conn)
    test_migrations.test_up_down_up_on_an_empty_database(database("empty"), pg_server)
    test_migrations.test_every_step_downgrades_to_exactly_the_previous_step(database("steps"))
    test_migrations.test_the_newest_revision_downgrades_to_exactly_the_schema_before_it(database("newest"), pg_cluster)
    test_migrations.test_one_head_and_offline_sql()
