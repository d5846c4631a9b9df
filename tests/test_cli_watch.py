"""`carepg watch WORKER`: the feed on the console, a line per change as it commits, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest

import builders as b

CAREPG = str(Path(sys.executable).with_name("carepg"))


class Watch:
    def __init__(self, db_url: str, *args: str):
        self.process = subprocess.Popen([CAREPG, "watch", *args], env={**os.environ, "DATABASE_URL": db_url},
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        self.lines: queue.Queue = queue.Queue()
        self.errors: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, args=(self.process.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.process.stderr, self.errors), daemon=True).start()

    @staticmethod
    def _pump(stream, into: queue.Queue) -> None:
        for line in stream:
            into.put(line.rstrip("\n"))
        into.put(None)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


@pytest.fixture
def market(db_url):
    with psycopg.connect(db_url, autocommit=True) as conn:
        d = b.document(conn)
        f = b.facility(conn, requires=[d])
        w, other = b.worker(conn, holds=[d]), b.worker(conn, holds=[d])
        b.refresh(conn)
        yield {"conn": conn, "F": f, "W": w, "other": other}


def test_watch_prints_each_change_as_it_commits_and_stops_on_sigterm(db_url, market):
    m = market
    watch = Watch(db_url, str(m["W"]), "--json")
    try:
        assert watch.errors.get(timeout=30).startswith(f"watching worker {m['W']}")
        shift = b.shift(m["conn"], m["F"], start=b.T0)
        added = json.loads(watch.lines.get(timeout=30))
        assert added["event"] == "available" and added["shift_id"] == shift
        assert added["start"] == "2023-02-01T05:00:00.000" and added["facility"]["id"] == m["F"]
        m["conn"].execute("SELECT shifts.claim_shift(%s, %s)", (m["other"], shift))
        assert json.loads(watch.lines.get(timeout=30)) == {"event": "unavailable", "shift_id": shift}
        m["conn"].execute('DELETE FROM "DocumentWorker" WHERE worker_id = %s', (m["W"],))
        assert json.loads(watch.lines.get(timeout=30)) == {"event": "reset"}
    finally:
        code = watch.stop()
    assert code == 0
    rest = []
    while (line := watch.errors.get(timeout=30)) is not None:
        rest.append(line)
    assert rest == ["stopped"]


def test_watch_as_text(db_url, market):
    watch = Watch(db_url, str(market["W"]), "--from", "2023-02-01", "--to", "2023-02-02")
    try:
        watch.errors.get(timeout=30)
        outside = b.shift(market["conn"], market["F"], start=b.T0.replace(day=5))  # not in the window: no line
        shift = b.shift(market["conn"], market["F"], start=b.T0)
        line = watch.lines.get(timeout=30)
        assert line.startswith(f"available    shift {shift}: 2023-02-01 05:00-10:00 CNA at facility {market['F']}")
        assert not line.startswith(f"available    shift {outside}:")  # the one outside the window came first
    finally:
        assert watch.stop() == 0


@pytest.mark.parametrize(("argv", "code", "says"), [
    (["2000000000"], 3, "worker 2000000000 does not exist"),
    (["0"], 7, "invalid worker id"),
    (["abc"], 7, "invalid worker id"),
    (["1", "--from", "2023-02-02", "--to", "2023-02-01"], 7, "start_from"),
    (["1", "--from", "yesterday"], 7, "--from"),
])  # fmt: skip
def test_watch_refuses_bad_arguments_in_one_line(db_url, argv, code, says):
    result = subprocess.run([CAREPG, "watch", *argv], env={**os.environ, "DATABASE_URL": db_url},
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and says in lines[0], lines
    assert "Traceback" not in result.stderr
