"""Replacing a payer's index: each run's plan entries are a partition of their own, made when the run is recorded;
publishing drops the replaced run's partition, a failure drops the failed run's, readers see the old index or the
new one, and a reader of the entries never holds a publish up (its partition is dropped by a later one).

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


def partitions(postgresql) -> list[int]:
    """The runs that have a partition of mrf_private.plan_entry, in order."""
    rows = postgresql.execute(
        "SELECT r.run_id FROM mrf_private.ingest_run r"
        " WHERE to_regclass(mrf.plan_entry_table(r.run_id)) IN"
        "  (SELECT i.inhrelid::regclass FROM pg_inherits i WHERE i.inhparent = 'mrf_private.plan_entry'::regclass)"
        " ORDER BY 1").fetchall()
    postgresql.commit()
    return [r[0] for r in rows]


def running_run(db_url: str) -> int | None:
    """The run a streaming ingest recorded, once it has."""
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT max(run_id) FROM mrf_private.ingest_run WHERE status = 'running'").fetchone()
    return row[0]


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


def test_mid_stream_the_old_index_is_live_and_publishing_drops_its_partition(tmp_path, db_url, postgresql, toc):
    path, truth = toc
    first = ingest_mod.ingest(db_url, str(path), use_thread=False)
    data = path.read_bytes()
    streaming = Streaming(tmp_path, db_url)
    streaming.write(data[: len(data) // 3])
    wait_for(lambda: running_run(db_url) is not None, "the new run recorded")
    new_run = running_run(db_url)
    # Mid-stream: the new run has its (empty to everyone else) partition; the old index is whole.
    assert partitions(postgresql) == [first.run_id, new_run]
    assert entries(postgresql, first.run_id) == first.plan_links
    assert entries(postgresql, new_run) == 0
    assert answer(postgresql) == truth.expected("NY", "PPO", with_lookup=False)
    postgresql.commit()
    code, err = streaming.finish(data[len(data) // 3 :])
    assert code == 0, err
    assert partitions(postgresql) == [new_run]
    assert entries(postgresql, first.run_id) == 0 and entries(postgresql, new_run) == first.plan_links
    assert answer(postgresql) == truth.expected("NY", "PPO", with_lookup=False)
    # The partition is carepg_owner's and nobody else's, like the table it belongs to.
    owner, acl = postgresql.execute("SELECT relowner::regrole::text, relacl FROM pg_class"
                                    " WHERE oid = to_regclass(mrf.plan_entry_table(%s))", (new_run,)).fetchone()
    assert (owner, acl) == ("carepg_owner", None)


def test_a_failed_ingest_drops_its_partition_and_keeps_the_previous_index(tmp_path, db_url, postgresql, toc):
    path, truth = toc
    first = ingest_mod.ingest(db_url, str(path), use_thread=False)
    data = path.read_bytes()
    streaming = Streaming(tmp_path, db_url)
    streaming.write(data[: len(data) // 3])
    wait_for(lambda: running_run(db_url) is not None, "the new run recorded")
    code, err = streaming.finish(b"\n}}}not json")
    assert code == InvalidInput.exit_code and "corrupt JSON" in err, err
    assert partitions(postgresql) == [first.run_id]
    assert entries(postgresql, first.run_id) == first.plan_links
    assert answer(postgresql) == truth.expected("NY", "PPO", with_lookup=False)


def test_a_payer_renamed_after_the_header_is_refused_and_loses_nothing(tmp_path, db_url, postgresql, toc):
    """A second reporting_entity_name, after the structures, names another payer than the header did: whose index
    this is would be a guess, so the run fails and the header's payer keeps its index."""
    path, truth = toc
    first = ingest_mod.ingest(db_url, str(path), use_thread=False)
    data = path.read_bytes()
    assert data.rstrip().endswith(b"]}")
    streaming = Streaming(tmp_path, db_url)
    streaming.write(data[: len(data) // 3])
    code, err = streaming.finish(data[len(data) // 3 :].rstrip()[:-1] + b',"reporting_entity_name":"Other Inc"}\n')
    assert code == InvalidInput.exit_code and "names two payers" in err and "Other Inc" in err, err
    assert entries(postgresql, first.run_id) == first.plan_links
    assert partitions(postgresql) == [first.run_id]
    assert answer(postgresql) == truth.expected("NY", "PPO", with_lookup=False)
    assert postgresql.execute("SELECT name FROM mrf_private.reporting_entity").fetchall() == [("Anthem Inc",)]


def test_two_ingests_of_one_payer_both_publish_and_the_last_one_is_live(tmp_path, db_url, postgresql, toc):
    """One streams while the other runs start to finish: each publishes, replacing the index live at its commit;
    no partition of a replaced run is left behind, the answer the same."""
    path, truth = toc
    first = ingest_mod.ingest(db_url, str(path), use_thread=False)
    data = path.read_bytes()
    streaming = Streaming(tmp_path, db_url)
    streaming.write(data[: len(data) // 3])
    wait_for(lambda: running_run(db_url) is not None, "the streaming run recorded")
    streamed_run = running_run(db_url)
    other = ingest_mod.ingest(db_url, str(path))
    assert other.replaced_run_id == first.run_id
    assert partitions(postgresql) == [streamed_run, other.run_id]
    code, err = streaming.finish(data[len(data) // 3 :])
    assert code == 0, err
    current = postgresql.execute("SELECT current_run_id FROM mrf_private.reporting_entity").fetchone()[0]
    assert current == streamed_run
    assert partitions(postgresql) == [streamed_run]
    assert answer(postgresql) == truth.expected("NY", "PPO", with_lookup=False)


def test_a_reader_of_the_entries_holds_no_publish_up(db_url, postgresql, toc):
    """A transaction reading the plan entries keeps the replaced run's partition from being dropped; publishing
    waits for it at most a moment (lock_timeout), leaves the partition, and a later publish drops it."""
    path, truth = toc
    first = ingest_mod.ingest(db_url, str(path), use_thread=False)
    with psycopg.connect(db_url) as reader:
        seen = reader.execute("SELECT count(*) FROM mrf_private.plan WHERE run_id = %s", (first.run_id,)).fetchone()
        done: dict = {}
        publishing = threading.Thread(target=lambda: done.update(summary=ingest_mod.ingest(db_url, str(path))))
        publishing.start()
        publishing.join(60)  # a publish that waited for the reader's commit would wait for ever
        if publishing.is_alive():
            reader.rollback()
            publishing.join()
            raise AssertionError("the publish waited for the reader")
        second = done["summary"]
        assert second.replaced_run_id == first.run_id
        assert partitions(postgresql) == [first.run_id, second.run_id]
        # The reader's transaction still reads what it read (its snapshot), the partition being there.
        assert reader.execute("SELECT count(*) FROM mrf_private.plan WHERE run_id = %s",
                              (first.run_id,)).fetchone() == seen
    assert answer(postgresql) == truth.expected("NY", "PPO", with_lookup=False)
    third = ingest_mod.ingest(db_url, str(path))
    assert partitions(postgresql) == [third.run_id]


def test_an_abandoned_run_loses_its_partition_and_a_live_one_keeps_it(db_url, postgresql, toc):
    """A run whose process died (its session and lock gone, its row still 'running') can never publish: the next
    publish drops its partition. A run still recorded as running by a live session keeps its own."""
    path, _ = toc
    alive = psycopg.connect(db_url, autocommit=True)
    dead = psycopg.connect(db_url, autocommit=True)
    try:
        alive_run = alive.execute("SELECT mrf.start_ingest('alive.json', NULL)").fetchone()[0]
        dead_run = dead.execute("SELECT mrf.start_ingest('dead.json', NULL)").fetchone()[0]
        dead.close()
        wait_for(lambda: postgresql.execute("SELECT status FROM mrf.runs() WHERE run_id = %s",
                                            (dead_run,)).fetchone() == ("abandoned",), "the run abandoned")
        postgresql.commit()
        published = ingest_mod.ingest(db_url, str(path))
        assert partitions(postgresql) == [alive_run, published.run_id]
    finally:
        alive.close()
    again = ingest_mod.ingest(db_url, str(path))
    assert partitions(postgresql) == [again.run_id]


def test_a_client_that_copies_into_the_parent_table_still_publishes(db_url, postgresql, toc):
    """What a client of an earlier release does: early discard, then COPY into mrf_private.plan_entry itself.
    Its rows are routed to the run's partition and publishing works as for the ingest of this release."""
    path, _ = toc
    first = ingest_mod.ingest(db_url, str(path), use_thread=False)
    with psycopg.connect(db_url, autocommit=True) as bookkeeping, psycopg.connect(db_url) as loading:
        run = bookkeeping.execute("SELECT mrf.start_ingest('old-client.json', NULL)").fetchone()[0]
        assert loading.execute("SELECT mrf.discard_previous_entries('Anthem Inc')").fetchone() == (first.run_id,)
        with loading.cursor().copy("COPY mrf_private.plan_entry (run_id, set_id, plan_key, plan_name) FROM STDIN") as cp:
            cp.write_row((run, 1, 7, "Plan A - PPO"))
            cp.write_row((run, 1, 8, "Plan B - HMO"))
        row = loading.execute("SELECT plans, replaced_run_id FROM mrf.finish_ingest(run_id => %s, entity_name =>"
                              " 'Anthem Inc', entity_type => NULL, version => NULL, last_updated_on => NULL,"
                              " parser => 'line', bytes_read => 0, raw_bytes => 0, structures => 1, plan_links => 2,"
                              " file_links => 0)", (run,)).fetchone()
        loading.commit()
    assert row == (2, first.run_id)
    assert partitions(postgresql) == [run]
    assert entries(postgresql, run) == 2


def test_two_sweeps_of_one_stale_partition_both_succeed(db_url, postgresql):
    """Two publishes may go for the same stale partition: the one that waits for the other's lock finds it gone
    and goes on (it would otherwise fail the publish that called it)."""
    with psycopg.connect(db_url, autocommit=True) as dead:
        run = dead.execute("SELECT mrf.start_ingest('dead.json', NULL)").fetchone()[0]
    part = postgresql.execute("SELECT mrf.plan_entry_table(%s)", (run,)).fetchone()[0]
    postgresql.commit()
    with psycopg.connect(db_url) as first, psycopg.connect(db_url, autocommit=True) as watcher:
        first.execute(psycopg.sql.SQL("DROP TABLE {}").format(psycopg.sql.SQL(part)))  # holds the parent's lock
        swept: list = []
        second = threading.Thread(target=lambda: swept.append(_sweep(db_url)))
        second.start()
        wait_for(lambda: watcher.execute("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation ="
                                         " 'mrf_private.plan_entry'::regclass").fetchone()[0] > 0,
                 "the second sweep waiting", seconds=10)
        first.commit()
        second.join(30)
    # Gone before the second sweep got the lock (or its 100 ms ran out first): nothing dropped, no error.
    assert swept == [0]
    assert partitions(postgresql) == []


def _sweep(db_url: str) -> int | str:
    try:
        with psycopg.connect(db_url, autocommit=True) as conn:
            return conn.execute("SELECT mrf.drop_stale_entries()").fetchone()[0]
    except psycopg.Error as exc:
        return f"{exc.sqlstate}: {exc}"
