"""`carepg refresh`: once, as a loop that stops cleanly, and as a pg_cron job where the server has pg_cron."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from carepg import cluster, migrations
from carepg.cli import app
from carepg.errors import InvalidInput, Unsupported

runner = CliRunner()
CAREPG = str(Path(sys.executable).with_name("carepg"))


def unseen(url: str) -> int:
    """Logged changes the view does not include yet (readers recheck them live)."""
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT unseen_changes FROM shifts.eligibility_status()").fetchone()[0]


def make_change(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("""INSERT INTO "Facility" (name, is_active) VALUES ('f', true)""")
        conn.execute("""INSERT INTO "Worker" (name, is_active, profession) VALUES ('w', true, 'LVN')""")


def test_refresh_once_folds_changes_into_the_view(db_url, monkeypatch):
    make_change(db_url)
    assert unseen(db_url) > 0
    monkeypatch.setenv("DATABASE_URL", db_url)
    result = runner.invoke(app, ["refresh"])
    assert result.exit_code == 0, result.output
    assert unseen(db_url) == 0
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM shifts_private.eligible_pair").fetchone()[0] == 1


def test_refresh_every_logs_each_run_and_stops_on_sigterm(db_url):
    make_change(db_url)
    env = {**os.environ, "DATABASE_URL": db_url}
    proc = subprocess.Popen([CAREPG, "refresh", "--every", "0.2"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while unseen(db_url) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert unseen(db_url) == 0
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0
    lines = stderr.strip().splitlines()
    assert lines[0].startswith("refreshing every 0.2 s")
    assert sum("refreshed in" in line for line in lines) >= 2
    assert lines[-1] == "stopped" and "Traceback" not in stderr


def test_refresh_rejects_conflicting_options(db_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", db_url)
    result = runner.invoke(app, ["refresh", "--every", "5", "--schedule", "* * * * *"])
    assert result.exit_code == InvalidInput.exit_code and "choose one of" in result.stderr
    for every in ("0", "-1", "nan", "inf", "1e12"):
        result = runner.invoke(app, ["refresh", "--every", every])
        assert result.exit_code == InvalidInput.exit_code and "invalid --every" in result.stderr, every


def test_schedule_without_pg_cron_is_one_clear_line(db_url, monkeypatch):
    """The session's server does not preload pg_cron (and may not have it installed at all)."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    result = runner.invoke(app, ["refresh", "--schedule", "*/5 * * * *"])
    assert result.exit_code == Unsupported.exit_code
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: pg_cron is") and "--every" in lines[0]
    assert runner.invoke(app, ["refresh", "--unschedule"]).stdout.strip() == "no pg_cron job to remove"


def _pg_cron_installed(bindir: Path) -> bool:
    out = subprocess.run([str(bindir / "pg_config"), "--pkglibdir"], capture_output=True, text=True)
    libdir = Path(out.stdout.strip()) if out.returncode == 0 else bindir.parent / "lib"
    return (libdir / "pg_cron.so").exists()


def test_schedule_installs_a_pg_cron_job_where_pg_cron_is_loaded(monkeypatch):
    bindir = cluster.find_bindir()
    if not _pg_cron_installed(bindir):
        pytest.skip(f"pg_cron is not installed for the server in {bindir} (Debian: postgresql-15-cron)")
    settings = {"shared_preload_libraries": "pg_cron", "cron.database_name": "postgres", "fsync": "off"}
    with cluster.temporary("carepg-cron-", settings=settings) as server:
        url = server.url("postgres")
        migrations.upgrade(url)
        monkeypatch.setenv("DATABASE_URL", url)
        result = runner.invoke(app, ["refresh", "--schedule", "*/5 * * * *"])
        assert result.exit_code == 0, result.output
        with psycopg.connect(url) as conn:
            job = conn.execute("SELECT schedule, command FROM cron.job WHERE jobname = 'carepg-refresh-eligibility'").fetchone()
        assert job == ("*/5 * * * *", "SELECT shifts.refresh_eligibility()")
        assert runner.invoke(app, ["refresh", "--schedule", "0 * * * *"]).exit_code == 0  # replaces, not adds
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM cron.job").fetchone()[0] == 1
        assert runner.invoke(app, ["refresh", "--unschedule"]).stdout.strip() == "pg_cron job removed"
