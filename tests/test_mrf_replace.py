"""Replacing a payer's index: the previous run's plan entries are deleted while the new index streams (inside its
loading transaction), readers see the old index or the new one, and two ingests of one payer both publish, one
after the other.

The ingests read a named pipe the test writes to, so they are reliably mid-stream when the test looks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import psycopg
import pytest

from carepg.errors import InvalidInput
from carepg.mrf import ingest as ingest_mod
from carepg.mrf.generate import generate


@pytest.fixture(scope="module")
def toc(tmp_path_factory):
    out = tmp_path_factory.mktemp("replace") / "anthem.json"
    return out, generate(out, raw_bytes=300_000, seed=41)


class Streaming:
    """`carepg mrf ingest` of a named pipe that the test feeds: `write` some, then `finish`."""

    def __init__(self, tmp_path, db_url: str, name: str = "toc.json") -> None:
        self.fifo = tmp_path / name
        os.mkfifo(self.fifo)
        self.proc = subprocess.Popen([sys.executable, "-m", "carepg", "mrf", "ingest", "--quiet", str(self.fifo)],
                                     env={**os.environ, "DATABASE_URL": db_url}, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.writer = open(self.fifo, "wb")  # noqa: SIM115 - closed by finish()

    def write(self, data: bytes) -> None:
        self.writer.write(data)
        self.writer.flush()

    def finish(self, data: bytes = b"") -> tuple[int, str]:
        self.write(data)
        self.writer.close()
        out, err = self.proc.communicate(timeout=120)
        return self.proc.returncode, err.strip()


def payer_locked(db_url: str, name: str = "Anthem Inc") -> bool:
    """Does a transaction hold the payer's row (the early discard's lock)?"""
    with psycopg.connect(db_url) as conn:
        try:
            conn.execute("SELECT 1 FROM mrf_private.reporting_entity WHERE name = %s FOR UPDATE NOWAIT", (name,))
        except psycopg.errors.LockNotAvailable:
            return True
        return False


def wait_for(condition, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        time.sleep(0.05)


def entries(postgresql, run_id: int) -> int:
    return postgresql.execute("SELECT count(*) FROM mrf_private.plan_entry WHERE run_id = %s", (run_id,)).fetchone()[0]


def answer(postgresql) -> list[str]:
    return [r[0] for r in postgresql.execute("SELECT url FROM mrf.network_files('NY', 'PPO')").fetchall()]


def test_the_previous_entries_go_while_the_new_index_streams(tmp_path, db_url, postgresql, toc):
    path, truth = toc
    first = ingest_mod.ingest(db_url, str(path), use_thread=False)
    data = path.read_bytes()
    streaming = Streaming(tmp_path, db_url)
    streaming.write(data[: len(data) // 3])
    wait_for(lambda: payer_locked(db_url), "the payer's row locked by the new ingest")
    # Mid-stream: the old entries are deleted in the new run's transaction, not for anyone else.
    assert entries(postgresql, first.run_id) == first.plan_links
    assert answer(postgresql) == truth.expected("NY", "PPO", with_lookup=False)
    postgresql.commit()
    code, err = streaming.finish(data[len(data) // 3 :])
    assert code == 0, err
    assert entries(postgresql, first.run_id) == 0
    assert answer(postgresql) == truth.expected("NY", "PPO", with_lookup=False)


def test_a_failed_ingest_gives_the_previous_entries_back(tmp_path, db_url, postgresql, toc):
    path, truth = toc
    first = ingest_mod.ingest(db_url, str(path), use_thread=False)
    data = path.read_bytes()
    streaming = Streaming(tmp_path, db_url)
    streaming.write(data[: len(data) // 3])
    wait_for(lambda: payer_locked(db_url), "the payer's row locked by the new ingest")
    code, err = streaming.finish(b"\n}}}not json")
    assert code == InvalidInput.exit_code and "corrupt JSON" in err, err
    assert entries(postgresql, first.run_id) == first.plan_links
    assert answer(postgresql) == truth.expected("NY", "PPO", with_lookup=False)


def test_a_payer_renamed_after_the_header_is_refused_and_loses_nothing(tmp_path, db_url, postgresql, toc):
    """A duplicate reporting_entity_name after the structures names another payer than the header did: the
    entries deleted early were the header's payer's, so the run fails and they come back."""
    path, truth = toc
    first = ingest_mod.ingest(db_url, str(path), use_thread=False)
    data = path.read_bytes()
    assert data.rstrip().endswith(b"]}")
    streaming = Streaming(tmp_path, db_url)
    streaming.write(data[: len(data) // 3])
    wait_for(lambda: payer_locked(db_url), "the payer's row locked by the new ingest")
    code, err = streaming.finish(data[len(data) // 3 :].rstrip()[:-1] + b',"reporting_entity_name":"Other Inc"}\n')
    assert code == InvalidInput.exit_code and "names two payers" in err, err
    assert entries(postgresql, first.run_id) == first.plan_links
    assert answer(postgresql) == truth.expected("NY", "PPO", with_lookup=False)
    assert postgresql.execute("SELECT name FROM mrf_private.reporting_entity").fetchall() == [("Anthem Inc",)]


def test_two_ingests_of_one_payer_publish_one_after_the_other(tmp_path, db_url, postgresql, toc):
    """The one streaming holds the payer's row; the other, done first, waits for its commit and publishes after:
    no deadlock, no entries of a replaced run left behind, the answer the same."""
    path, truth = toc
    first = ingest_mod.ingest(db_url, str(path), use_thread=False)
    data = path.read_bytes()
    streaming = Streaming(tmp_path, db_url)
    streaming.write(data[: len(data) // 3])
    wait_for(lambda: payer_locked(db_url), "the payer's row locked by the streaming ingest")
    done: dict = {}
    other = threading.Thread(target=lambda: done.update(summary=ingest_mod.ingest(db_url, str(path))))
    other.start()
    time.sleep(1.5)  # the other ingest has parsed the whole index by now and waits for the payer's row
    assert other.is_alive() and "summary" not in done
    code, err = streaming.finish(data[len(data) // 3 :])
    other.join(60)
    assert code == 0, err
    second = done["summary"]
    current = postgresql.execute("SELECT current_run_id FROM mrf_private.reporting_entity").fetchone()[0]
    assert current == second.run_id and second.replaced_run_id not in (None, first.run_id)
    left = postgresql.execute("SELECT DISTINCT run_id FROM mrf_private.plan_entry").fetchall()
    assert left == [(second.run_id,)]
    assert answer(postgresql) == truth.expected("NY", "PPO", with_lookup=False)
