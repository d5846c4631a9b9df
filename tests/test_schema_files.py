"""sql/<schema>/*.sql hold each object's current definition; the migrations are the frozen history.

Both must build the same database, privileges, owners, comments and reference rows included, and every function
and view of carepg's schemas must be defined in exactly one current file.
"""

from __future__ import annotations

import re
from collections import Counter

import psycopg
import pytest

import schema_dump
from carepg import migrations, paths

pytestmark = pytest.mark.fast

CAREPG_SCHEMAS = ("shifts", "shifts_private", "mrf", "mrf_private")
CURRENT_DIRS = tuple(sorted({f.split("/")[0] for f in schema_dump.current_files_on_disk() if "/" in f}))
_DEFINITION = re.compile(
    r"^CREATE\s+(?:OR\s+REPLACE\s+)?(?:FUNCTION|(?:MATERIALIZED\s+)?VIEW|TABLE|TRIGGER|INDEX)\s+"
    r"(?:IF\s+NOT\s+EXISTS\s+)?([\w.\"]+)",
    re.IGNORECASE | re.MULTILINE,
)


def _fresh_database(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(psycopg.sql.Identifier(name)))
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
    return admin_url.replace("/postgres?", f"/{name}?")


def test_current_files_build_the_same_database_as_the_migrations(pg_cluster):
    admin = pg_cluster.url("postgres")
    migrated = _fresh_database(admin, "carepg_by_migrations")
    current = _fresh_database(admin, "carepg_by_current_files")
    migrations.upgrade(migrated)
    schema_dump.install_current(current)
    schema = schema_dump.dump(migrated, pg_cluster.bindir)
    assert schema_dump.dump(current, pg_cluster.bindir) == schema, (
        "sql/<schema>/ and sql/migrations/ disagree: freeze the change in a new migration"
    )
    assert schema_dump.dump(current, pg_cluster.bindir, data=True) == schema_dump.dump(
        migrated, pg_cluster.bindir, data=True
    )
    # The comparison covers what matters here: owners and grants are in the dump.
    assert "OWNER TO carepg_owner" in schema and "GRANT ALL ON FUNCTION shifts.available_shifts" in schema


def test_install_lists_every_current_file_once():
    listed = paths.install_files()
    assert len(listed) == len(set(listed))
    assert sorted(listed) == sorted(schema_dump.current_files_on_disk())
    assert set(CURRENT_DIRS) >= {"public", "carepg_ext", *CAREPG_SCHEMAS}


def _current_definitions() -> Counter:
    found: Counter = Counter()
    for relative in paths.install_files():
        for name in _DEFINITION.findall(paths.sql_text(relative)):
            found[name.replace('"', "")] += 1
    return found


def test_every_function_and_view_is_defined_in_exactly_one_current_file(postgresql):
    objects = postgresql.execute(
        """
        SELECT n.nspname || '.' || p.proname FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
        WHERE n.nspname = ANY (%(schemas)s)
        UNION ALL
        SELECT n.nspname || '.' || c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY (%(schemas)s) AND c.relkind IN ('r', 'v', 'm')
        """,
        {"schemas": list(CAREPG_SCHEMAS)},
    ).fetchall()
    defined = _current_definitions()
    for (name,) in objects:
        assert defined[name] == 1, f"{name} is defined {defined[name]} times in the current files"
    # ... and nowhere else outside the frozen history and the generated dump (queries, seeds).
    for path in paths.SQL_DIR.rglob("*.sql"):
        top = path.relative_to(paths.SQL_DIR).parts[0]
        if top in (*CURRENT_DIRS, "migrations", "schema.sql", "install.sql", "roles.sql"):
            continue
        names = [n.replace('"', "") for n in _DEFINITION.findall(path.read_text())]
        assert not [n for n in names if n.split(".")[0] in CAREPG_SCHEMAS], f"{path} defines carepg objects"


def test_every_current_file_says_what_it_is_for():
    for relative in ["install.sql", *paths.install_files()]:
        assert paths.sql_text(relative).startswith("-- purpose: "), relative
