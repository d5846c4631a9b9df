"""Reads scale out to streaming replicas: the function is read-only, so a hot standby answers it.

A small primary (carepg's own Cluster, unix socket only), seeded with a tiny challenge data set, is copied with
pg_basebackup into a hot standby that streams from it. The standby gives the primary's answers, and after a
change on the primary (a claim, a lost document) it gives the new answer as soon as it has replayed the
primary's WAL up to that commit: fresh within replication lag, because the eligibility patches written by the
triggers are ordinary rows that replicate like everything else.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from carepg import cluster, migrations, seed

from conftest import FAST_SETTINGS

pytestmark = pytest.mark.slow

PAGE = "SELECT shift_id, start FROM shifts.available_shifts(%s, max_rows => 20)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def replay_up_to(standby: psycopg.Connection, lsn: str, patience: float = 60) -> None:
    """Wait until the standby has replayed the primary's WAL up to `lsn` (a bound, not a timed assertion).

    `lsn` is the primary's *insert* position: with synchronous_commit off (the tests' setting) a commit can
    be inserted but not yet written, so pg_current_wal_lsn() may still be before it.
    """
    deadline = time.monotonic() + patience
    while not standby.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()[0]:
        assert time.monotonic() < deadline, f"the standby did not replay up to {lsn}"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def primary_and_standby():
    homes = [Path(tempfile.mkdtemp(prefix="carepg-replica-")) for _ in range(2)]
    primary = cluster.Cluster(homes[0], port=free_port(), tcp=False, settings=FAST_SETTINGS)
    standby = cluster.Cluster(homes[1], port=free_port(), tcp=False, settings={**FAST_SETTINGS, "hot_standby": "on"})
    try:
        primary.up()
        with psycopg.connect(primary.url("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE carepg")
        migrations.upgrade(primary.url())
        with psycopg.connect(primary.url(), autocommit=True) as conn:
            seed.seed(conn, shifts=3_000, seed=7)

        # pg_basebackup writes the standby's data directory as the server user, like initdb does.
        standby._prepare_dirs()  # noqa: SLF001
        standby.data_dir.mkdir(mode=0o700)
        user = cluster._server_user()  # noqa: SLF001
        if user is not None:
            os.chown(standby.data_dir, user.pw_uid, user.pw_gid)
        result = primary._run(  # noqa: SLF001
            ["pg_basebackup", "-D", str(standby.data_dir), "-h", str(primary.socket_dir), "-p", str(primary.port),
             "-U", cluster.DB_USER, "--write-recovery-conf", "--wal-method=stream", "--checkpoint=fast"]
        )
        assert result.returncode == 0, result.stderr
        standby.up()
        yield primary, standby
    finally:
        standby.destroy()
        primary.destroy()
        for home in homes:
            home.rmdir() if home.exists() and not any(home.iterdir()) else None


def test_the_standby_is_a_streaming_hot_standby(primary_and_standby):
    primary, standby = primary_and_standby
    with psycopg.connect(standby.url(), autocommit=True) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("UPDATE \"Worker\" SET is_active = NOT is_active WHERE id = 101")
    with psycopg.connect(primary.url(), autocommit=True) as conn:
        senders = conn.execute("SELECT state FROM pg_stat_replication").fetchall()
    assert senders == [("streaming",)]


def test_the_function_answers_on_the_standby_as_on_the_primary(primary_and_standby):
    primary, standby = primary_and_standby
    with psycopg.connect(primary.url(), autocommit=True) as p, psycopg.connect(standby.url(), autocommit=True) as s:
        lsn = p.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]
        replay_up_to(s, str(lsn))
        for worker in (101, 102, 103):
            answer = p.execute(PAGE, (worker,)).fetchall()
            assert answer, "the deterministic workers have shifts"
            assert s.execute(PAGE, (worker,)).fetchall() == answer
            assert s.execute("SELECT shifts.count_available_shifts(%s)", (worker,)).fetchone() == p.execute(
                "SELECT shifts.count_available_shifts(%s)", (worker,)).fetchone()
        with pytest.raises(psycopg.Error) as unknown:
            s.execute(PAGE, (999_999,))
        assert unknown.value.sqlstate == "CP404"


def test_the_standby_is_fresh_within_replication_lag(primary_and_standby):
    primary, standby = primary_and_standby
    with psycopg.connect(primary.url(), autocommit=True) as p, psycopg.connect(standby.url(), autocommit=True) as s:
        # A claim: the first shift of worker 101's answer goes to someone else.
        first = p.execute(PAGE, (101,)).fetchone()[0]
        p.execute("UPDATE \"Shift\" SET worker_id = 1 WHERE id = %s", (first,))
        replay_up_to(s, str(p.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]))
        after_claim = s.execute(PAGE, (101,)).fetchall()
        assert first not in [row[0] for row in after_claim]
        assert after_claim == p.execute(PAGE, (101,)).fetchall()

        # A lost document (trigger-maintained eligibility, no refresh): worker 102 becomes eligible nowhere,
        # since every facility of the challenge seed requires every document.
        p.execute("DELETE FROM \"DocumentWorker\" WHERE worker_id = 102")
        assert p.execute(PAGE, (102,)).fetchall() == []
        replay_up_to(s, str(p.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]))
        assert s.execute(PAGE, (102,)).fetchall() == []
