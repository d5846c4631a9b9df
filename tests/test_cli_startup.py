"""What a `carepg` command loads before it answers: what it needs, nothing more.

Each case runs the real entry point (carepg.main:main, what the `carepg` script runs) in a child process and
lists the modules it had imported when it exited. `--help` loads no database driver, no migration tool, no Rich
and no web server; `carepg shifts` against a DATABASE_URL loads neither Typer nor psycopg nor the local
cluster's module; a bad argument is refused before psycopg is loaded at all. Which modules, never how long:
the time is the bench's (`make bench-cli`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psycopg
import pytest
from psycopg import sql

from carepg import cluster, migrations
from carepg.errors import InvalidInput, NotFound

# The child: record sys.modules at exit (after main()'s sys.exit), then run carepg as its script does.
CHILD = """
import atexit, json, os, sys
atexit.register(lambda: open(os.environ["CAREPG_TEST_MODULES"], "w").write(json.dumps(sorted(sys.modules))))
from carepg.main import main
main()
"""
DATABASE_WORK = ("psycopg", "psycopg_binary", "alembic", "sqlalchemy", "carepg.cluster", "carepg.mrf.ingest")
PRESENTATION = ("rich", "granian", "carepg.web")
TYPER = ("typer", "click", "carepg.cli")


def run(tmp_path, *argv: str, database_url: str | None = None, local: cluster.Cluster | None = None,
        ) -> tuple[subprocess.CompletedProcess, set[str]]:  # fmt: skip
    record = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CAREPG_DEBUG")}
    home, port = (str(local.home), str(local.port)) if local else (str(tmp_path / "no-cluster-here"), "55999")
    env.update(CAREPG_TEST_MODULES=str(record), CAREPG_HOME=home, CAREPG_PORT=port)
    if database_url:
        env["DATABASE_URL"] = database_url
    result = subprocess.run([sys.executable, "-c", CHILD, *argv], env=env, capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    return result, set(json.loads(record.read_text()))


def loaded(modules: set[str], *packages: str) -> list[str]:
    """Which of `packages` (or their submodules) were imported."""
    return sorted(p for p in packages if any(m == p or m.startswith(p + ".") for m in modules))


@pytest.mark.parametrize("argv", [["--help"], ["shifts", "--help"], ["mrf", "--help"], ["migrate", "--help"],
                                  ["serve", "--help"], ["mrf", "ingest", "--help"], []])  # fmt: skip
def test_help_loads_no_database_driver_no_migration_tool_no_rich(tmp_path, argv):
    result, modules = run(tmp_path, *argv)
    assert result.returncode == 0, result.stderr
    assert "Usage: carepg" in result.stdout
    assert loaded(modules, *DATABASE_WORK, *PRESENTATION) == []


def test_shifts_with_a_database_url_loads_neither_typer_nor_psycopg(tmp_path, web_db):
    worker = web_db.workers["CNA"]
    result, modules = run(tmp_path, "shifts", str(worker), "--limit", "5", database_url=web_db.url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["shift", "start"] and lines[-1].startswith("next page: --after ")
    assert loaded(modules, *DATABASE_WORK, *PRESENTATION, *TYPER) == []
    assert loaded(modules, "carepg.libpq") == ["carepg.libpq"]

    after = lines[-1].split()[-1]
    result, modules = run(tmp_path, "shifts", str(worker), "--json", "--from", "2023-02-01", "--to", "now",
                          "--after", after, database_url=web_db.url)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["worker_id"] == worker
    assert loaded(modules, *DATABASE_WORK, *PRESENTATION, *TYPER) == []


def test_shifts_on_the_local_cluster_loads_its_module_but_not_psycopg(tmp_path, pg_cluster):
    """Without DATABASE_URL: the local cluster's URL (cluster.py) and libpq; psycopg only when the cluster has to
    be started or its database created."""
    admin, name = pg_cluster.url("postgres"), sql.Identifier(cluster.DEFAULT_DBNAME)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
    try:
        migrations.upgrade(pg_cluster.url())
        result, modules = run(tmp_path, "shifts", "424242", local=pg_cluster)
        assert result.returncode == NotFound.exit_code and "worker 424242 does not exist" in result.stderr
        assert loaded(modules, "carepg.cluster") == ["carepg.cluster"]
        assert loaded(modules, "psycopg", "psycopg_binary", "alembic", "sqlalchemy", *PRESENTATION, *TYPER) == []
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


def test_other_commands_load_psycopg_but_not_the_cluster_for_a_database_url(tmp_path, web_db):
    result, modules = run(tmp_path, "claims", str(web_db.workers["RN"]), database_url=web_db.url)
    assert result.returncode == 0, result.stderr
    assert loaded(modules, "psycopg") == ["psycopg"]
    assert loaded(modules, "alembic", "sqlalchemy", "carepg.cluster", *PRESENTATION) == []


@pytest.mark.parametrize("argv", [
    ["shifts", "0"], ["shifts", "101", "--limit", "0"], ["claims", "101", "--limit", "1001"], ["claim", "101", "x"],
    ["seed", "--shifts", "-1"], ["demo", "--limit", "0"], ["migrate", "no-such-revision"], ["refresh", "--every", "0"],
    ["mrf", "ingest", "/nonexistent/toc.json.gz"], ["mrf", "files", "--state", "XYZ", "--plan-type", "PPO"],
    ["mrf", "runs", "--limit", "0"], ["serve", "--port", "0"], ["shifts", "101", "--bogus"],
])  # fmt: skip
def test_a_bad_argument_is_refused_before_any_database_code_is_loaded(tmp_path, argv):
    result, modules = run(tmp_path, *argv, database_url="postgresql://postgres@/nowhere?host=/nonexistent&port=1")
    assert result.returncode == InvalidInput.exit_code, result.stderr
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: ")
    assert loaded(modules, *DATABASE_WORK, "granian") == []
