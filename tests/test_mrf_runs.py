"""An ingest that dies never looks alive: SIGTERM or SIGHUP, a lost database session, SIGKILL.

The ingest reads a named pipe the test writes to, so it is reliably mid-run when the test strikes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from carepg.errors import ServerUnavailable
from carepg.mrf import ingest as ingest_mod
from carepg.mrf.generate import generate


@pytest.fixture(scope="module")
def toc(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "anthem.json"
    truth = generate(out, raw_bytes=300_000, seed=12)
    return out, truth


class Pending:
    """`carepg mrf ingest` of a named pipe, with the first part of a table of contents written to it."""

    def __init__(self, tmp_path, db_url: str, data: bytes) -> None:
        self.fifo = tmp_path / "toc.json"
        os.mkfifo(self.fifo)
        env = {**os.environ, "DATABASE_URL": db_url}
        self.proc = subprocess.Popen([sys.executable, "-m", "carepg", "mrf", "ingest", "--quiet", str(self.fifo)],
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.writer = open(self.fifo, "wb")  # noqa: SIM115 - closed by finish()
        self.writer.write(data[: len(data) // 3])
        self.writer.flush()
        self.rest = data[len(data) // 3 :]

    def wait_running(self, postgresql) -> int:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            row = postgresql.execute(
                "SELECT run_id FROM mrf_private.ingest_run WHERE status = 'running' ORDER BY run_id DESC LIMIT 1").fetchone()
            if row:
                return row[0]
            time.sleep(0.05)
        raise AssertionError("the ingest never started")

    def finish(self, write_rest: bool = False) -> tuple[int, str]:
        try:
            if write_rest:
                self.writer.write(self.rest)
            self.writer.close()
        except BrokenPipeError:
            pass
        out, err = self.proc.communicate(timeout=60)
        return self.proc.returncode, err.strip()


def _runs(postgresql) -> dict[int, str]:
    return {r["run_id"]: r["status"] for r in ingest_mod.runs(postgresql, 5)}


def _answer(postgresql):
    return postgresql.execute("SELECT url FROM mrf.network_files('NY', 'PPO')").fetchall()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_fails_the_run_like_ctrl_c(tmp_path, db_url, postgresql, toc, signum):
    path, truth = toc
    ingest_mod.ingest(db_url, str(path), use_thread=False)
    before = _answer(postgresql)
    pending = Pending(tmp_path, db_url, path.read_bytes())
    run_id = pending.wait_running(postgresql)
    assert _runs(postgresql)[run_id] == "running"  # its session holds the run's lock
    pending.proc.send_signal(signum)
    code, err = pending.finish()
    name = signal.Signals(signum).name
    assert code == 128 + signum, err
    assert err.startswith(f"error: terminated by {name}") and "\n" not in err and "Traceback" not in err, err
    status, error = postgresql.execute("SELECT status, error FROM mrf_private.ingest_run WHERE run_id = %s",
                                       (run_id,)).fetchone()
    assert (status, error) == ("failed", f"terminated by {name}")
    assert _answer(postgresql) == before


def test_a_killed_ingest_shows_as_abandoned_not_running(tmp_path, db_url, postgresql, toc):
    path, _ = toc
    ingest_mod.ingest(db_url, str(path), use_thread=False)
    before = _answer(postgresql)
    pending = Pending(tmp_path, db_url, path.read_bytes())
    run_id = pending.wait_running(postgresql)
    assert _runs(postgresql)[run_id] == "running"
    pending.proc.kill()
    pending.finish()
    deadline = time.monotonic() + 10  # the server notices the closed sessions
    while _runs(postgresql)[run_id] != "abandoned" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _runs(postgresql)[run_id] == "abandoned"
    # The table itself still says 'running' (nothing could write otherwise); `mrf runs` says what it means.
    assert postgresql.execute("SELECT status FROM mrf_private.ingest_run WHERE run_id = %s", (run_id,)).fetchone() == (
        "running",)
    assert _answer(postgresql) == before


def test_lost_database_sessions_fail_the_run_and_record_it(tmp_path, db_url, postgresql, toc):
    """As when the server restarts: both of the ingest's sessions are terminated while it runs."""
    path, _ = toc
    ingest_mod.ingest(db_url, str(path), use_thread=False)
    before = _answer(postgresql)
    pending = Pending(tmp_path, db_url, path.read_bytes())
    run_id = pending.wait_running(postgresql)
    # The run is recorded before the loading session connects: strike once both are there.
    others = ("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
              " AND backend_type = 'client backend'")  # fmt: skip
    deadline = time.monotonic() + 30
    while len(postgresql.execute(others).fetchall()) < 2 and time.monotonic() < deadline:
        postgresql.commit()
        time.sleep(0.02)
    postgresql.execute(f"SELECT pg_terminate_backend(pid) FROM ({others}) AS s")
    postgresql.commit()
    code, err = pending.finish(write_rest=True)
    assert code == ServerUnavailable.exit_code, err
    assert err.startswith("error: database unavailable") and "\n" not in err and "Traceback" not in err, err
    status, error = postgresql.execute("SELECT status, error FROM mrf_private.ingest_run WHERE run_id = %s",
                                       (run_id,)).fetchone()
    assert status == "failed" and "terminating connection" in error
    assert _answer(postgresql) == before


def test_the_run_lock_lives_with_the_session_that_recorded_the_run(db_url, postgresql):
    """mrf.start_ingest takes the run's lock for its session; mrf.runs reads it; hold_run_lock takes it over."""
    with psycopg.connect(db_url, autocommit=True) as bookkeeping:
        run_id = bookkeeping.execute("SELECT mrf.start_ingest('a.json.gz', 10)").fetchone()[0]
        assert _runs(postgresql)[run_id] == "running"
        postgresql.commit()
        # Another session cannot take a live run's lock.
        assert postgresql.execute("SELECT mrf.hold_run_lock(%s)", (run_id,)).fetchone() == (False,)
        postgresql.commit()
    deadline = time.monotonic() + 10  # the server notices the closed session
    while _runs(postgresql)[run_id] != "abandoned" and time.monotonic() < deadline:
        postgresql.commit()
        time.sleep(0.05)
    assert _runs(postgresql)[run_id] == "abandoned"
    postgresql.commit()
    # A new session may take it over (as the ingest does after losing its bookkeeping session): alive again.
    with psycopg.connect(db_url, autocommit=True) as replacement:
        assert replacement.execute("SELECT mrf.hold_run_lock(%s)", (run_id,)).fetchone() == (True,)
        assert _runs(postgresql)[run_id] == "running"
        postgresql.commit()
        replacement.execute("SELECT mrf.fail_ingest(%s, 'gave up', 0, 0)", (run_id,))
    assert _runs(postgresql)[run_id] == "failed"


def test_runs_refuses_a_row_count_out_of_range(postgresql):
    for bad in (0, -1, 1001, None):
        with pytest.raises(psycopg.Error) as info:
            postgresql.execute("SELECT * FROM mrf.runs(%s)", (bad,))
        assert info.value.sqlstate == "CP400", bad
        postgresql.rollback()
    assert postgresql.execute("SELECT count(*) FROM mrf.runs(1000)").fetchone() == (0,)
