"""The CLI and `carepg serve` say when the database's carepg revision is not the code's, before doing anything.

For real: a database brought to an older revision with `carepg migrate <revision>`, and one stamped with a
revision this code does not know (what a newer carepg's migrate leaves), against the libpq path (`shifts`), the
psycopg path (`claims`, `seed`, `mrf runs`), `migrate` itself and `serve`; and a role that may not read the
revision, for which the check stands aside.
"""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest

from carepg import migrations
from carepg.errors import SchemaAhead, SchemaMissing
from web_fixtures import free_port

OLDER = "0070"


def carepg(url: str, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAREPG_", "DATABASE_URL"))}
    env.update(DATABASE_URL=url, CAREPG_HOME="/proc/no-such-home/carepg")
    return subprocess.run([sys.executable, "-m", "carepg", *argv], env=env, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def one_line(result) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_the_code_knows_its_revisions_as_alembic_does():
    script = migrations.ScriptDirectory.from_config(migrations.config())
    assert migrations.revisions() == [r.revision for r in reversed(list(script.walk_revisions()))]
    assert [migrations.head()] == list(script.get_heads())


COMMANDS = [["shifts", "101"], ["claims", "101"], ["claim", "101", "1"], ["seed", "--shifts", "10"],
            ["refresh"], ["mrf", "runs"], ["mrf", "files", "--state", "NY", "--plan-type", "PPO"]]  # fmt: skip


def test_a_database_never_migrated_is_exit_5(empty_db_url):
    for argv in COMMANDS[:3]:
        result = carepg(empty_db_url, *argv)
        assert result.returncode == SchemaMissing.exit_code, (argv, result.stderr)
        line = one_line(result)
        assert "no carepg schema" in line and "carepg migrate" in line and migrations.head() in line, line


def test_a_database_behind_the_code_is_exit_5_until_migrated(empty_db_url):
    assert carepg(empty_db_url, "migrate", OLDER).returncode == 0
    assert migrations.current(empty_db_url) == OLDER
    for argv in COMMANDS:
        result = carepg(empty_db_url, *argv)
        assert result.returncode == SchemaMissing.exit_code, (argv, result.stderr)
        line = one_line(result)
        assert f"revision {OLDER}, this carepg needs {migrations.head()}" in line and "carepg migrate" in line, line
    with psycopg.connect(empty_db_url) as conn:  # nothing was done: seed and claim never ran
        assert conn.execute('SELECT count(*) FROM "Shift"').fetchone()[0] == 0
    assert carepg(empty_db_url, "migrate").returncode == 0
    result = carepg(empty_db_url, "shifts", "101")
    assert result.returncode == 3 and "does not exist" in one_line(result)  # past the check: the worker is unknown


def test_a_database_ahead_of_the_code_is_exit_5_saying_so(empty_db_url):
    migrations.upgrade(empty_db_url)
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        conn.execute("UPDATE public.alembic_version SET version_num = '9990'")  # stamped by a newer carepg
    for argv in [*COMMANDS, ["migrate"], ["migrate", OLDER, "--down"], ["demo"]]:
        result = carepg(empty_db_url, *argv)
        assert result.returncode == SchemaAhead.exit_code, (argv, result.stderr)
        line = one_line(result)
        assert "revision 9990" in line and "newer carepg" in line, line
    with psycopg.connect(empty_db_url) as conn:  # migrate left it alone
        assert conn.execute("SELECT version_num FROM public.alembic_version").fetchall() == [("9990",)]


@pytest.mark.parametrize("stamp", [OLDER, "9990"])
def test_serve_refuses_a_database_at_another_revision(empty_db_url, stamp):
    migrations.upgrade(empty_db_url)
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        conn.execute("UPDATE public.alembic_version SET version_num = %s", (stamp,))
    result = carepg(empty_db_url, "serve", "--port", str(free_port()), timeout=60)
    assert result.returncode == SchemaMissing.exit_code, result.stderr
    assert f"revision {stamp}" in one_line(result)


def test_a_role_that_may_not_read_the_revision_is_not_stopped_by_the_check(db_url):
    """A reader (carepg_reader) has no privilege on alembic_version: the check stands aside, the answer comes."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'revision_reader') THEN "
                     "CREATE ROLE revision_reader LOGIN; END IF; END $$")
        conn.execute("GRANT carepg_reader TO revision_reader")
        assert not conn.execute("SELECT has_table_privilege('revision_reader', 'public.alembic_version', 'SELECT')"
                                ).fetchone()[0]  # fmt: skip
        worker = conn.execute("""INSERT INTO "Worker" (name, is_active, profession) VALUES ('r', true, 'CNA')
                                 RETURNING id""").fetchone()[0]  # fmt: skip
    reader_url = db_url.replace("postgresql://postgres@", "postgresql://revision_reader@")
    result = carepg(reader_url, "shifts", str(worker))
    assert result.returncode == 0 and result.stdout == f"no available shifts for worker {worker}\n", result.stderr
