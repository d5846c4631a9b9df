"""`carepg mrf ingest` starts streaming before the CLI is imported and before the database is ready, and never
imports psycopg (its sessions are libpq's own); what its own entry does not take goes to the Typer command, and
either way ends the same."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time

import pytest

from carepg import db
from carepg.errors import InvalidInput, ServerUnavailable
from carepg.mrf import ingest as ingest_mod
from carepg.mrf import load as load_mod
from carepg.mrf.generate import generate

# Run as the `carepg` console script does, recording which modules were loaded when the inflater started.
ENTRY = """
import atexit, sys
from carepg.mrf import inflate
WATCHED = ("typer", "click", "rich", "psycopg", "carepg.cli", "carepg.console", "carepg.cluster", "carepg.db",
           "carepg.mrf.parse", "carepg.mrf.collector", "ijson", "json", "re", "dataclasses", "http.client")
at_start = []
start = inflate.Inflater.start
def watched_start(self):
    if not at_start:
        at_start.append(sorted(m for m in WATCHED if m in sys.modules))
    return start(self)
inflate.Inflater.start = watched_start
from carepg.mrf import ingest
at_connect = []
sessions = ingest._Sessions.__init__
def watched_sessions(self, *args):
    at_connect.append(sorted(m for m in WATCHED if m in sys.modules))
    return sessions(self, *args)
ingest._Sessions.__init__ = watched_sessions
atexit.register(lambda: sys.stderr.write(
    f"\\nloaded at start: {at_start or [None]}; loaded at exit: {sorted(m for m in WATCHED if m in sys.modules)}"
    f"; loaded when the database thread starts: {at_connect or [None]}\\n"))
sys.argv = ["carepg", *sys.argv[1:]]
from carepg.main import main
sys.exit(main())
"""


@pytest.fixture(scope="module")
def toc(tmp_path_factory):
    out = tmp_path_factory.mktemp("entry") / "anthem.json.gz"
    return out, generate(out, raw_bytes=600_000, seed=31)


def carepg(db_url: str | None, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if db_url is not None:
        env["DATABASE_URL"] = db_url
    return subprocess.run([sys.executable, "-c", ENTRY, *args], env=env, capture_output=True, text=True, timeout=120)


def loaded(done: subprocess.CompletedProcess) -> tuple[list[str], list[str], list[str]]:
    """(watched modules loaded when the inflater started, at exit, and when the database thread started)."""
    start, _, rest = done.stderr.rsplit("loaded at start: ", 1)[1].partition("; loaded at exit: ")
    end, _, connect = rest.partition("; loaded when the database thread starts: ")
    return ast.literal_eval(start)[0], ast.literal_eval(end.strip()), ast.literal_eval(connect.strip())[0]


def answer(postgresql) -> list[str]:
    return [r[0] for r in postgresql.execute("SELECT url FROM mrf.network_files('NY', 'PPO')").fetchall()]


def test_the_stream_starts_before_the_cli_and_the_parser_are_imported_and_psycopg_never_is(toc, db_url, postgresql):
    path, truth = toc
    done = carepg(db_url, "mrf", "ingest", "-q", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ingested Anthem Inc (run ") and done.stdout.count("\n") == 1, done.stdout
    at_start, at_exit, at_connect = loaded(done)
    assert at_start == [], at_start  # nothing but what reading and inflating need
    # The parser's modules are imported before the database thread imports its own, never at the same time
    # (a thread can see another's half-imported module: dataclasses reads typing from sys.modules).
    assert {"carepg.mrf.parse", "carepg.mrf.collector", "dataclasses"} <= set(at_connect), at_connect
    assert not {"psycopg", "carepg.db"} & set(at_connect), at_connect
    assert {"carepg.db", "carepg.mrf.parse", "ijson"} <= set(at_exit), at_exit  # imported while it streamed
    assert not {"psycopg", "typer", "click", "rich", "carepg.cli", "carepg.console"} & set(at_exit), at_exit  # never
    assert answer(postgresql) == truth.expected("NY", "PPO", with_lookup=False)


@pytest.mark.parametrize("args", [
    ["--quiet", "--timeout", "5", "--retries=0"],
    ["--timeout=0.5", "-q"],
    ["-q", "--retries", "1000", "--timeout", ".5"],
])
def test_the_plain_forms_are_taken_by_the_entry(toc, db_url, postgresql, args):
    path, truth = toc
    done = carepg(db_url, "mrf", "ingest", *args, str(path))
    assert done.returncode == 0 and "typer" not in loaded(done)[1], done.stderr
    assert answer(postgresql) == truth.expected("NY", "PPO", with_lookup=False)


@pytest.mark.parametrize(("args", "code", "says"), [
    (["--help"], 0, "Stream a table of contents"),
    # Bad arguments: the argument policy's one line and code (errors.py), from Typer's parsers.
    (["-q", "--timeout", "0"], InvalidInput.exit_code, "invalid --timeout '0'"),
    (["-q", "--retries", "1001"], InvalidInput.exit_code, "invalid --retries '1001'"),
    (["-q", "--retries", "-1"], InvalidInput.exit_code, "invalid --retries '-1'"),
    (["-q", "--bogus"], InvalidInput.exit_code, "no such option: --bogus"),
    (["-q"], InvalidInput.exit_code, "missing argument 'SOURCE'"),
    (["-q", "a.json", "b.json"], InvalidInput.exit_code, "error: "),
])
def test_everything_else_goes_to_the_typer_command(db_url, postgresql, args, code, says):
    done = carepg(db_url, "mrf", "ingest", *args)
    assert done.returncode == code and says in done.stdout + done.stderr, done.stdout + done.stderr
    assert "typer" in loaded(done)[1]
    assert postgresql.execute("SELECT count(*) FROM mrf_private.ingest_run").fetchone() == (0,)


def test_a_form_only_typer_reads_still_ingests(toc, db_url, postgresql):
    path, truth = toc
    done = carepg(db_url, "mrf", "ingest", "-q", "--timeout", "1e1", str(path))  # Click reads floats like 1e1
    assert done.returncode == 0 and done.stdout.startswith("ingested Anthem Inc"), done.stderr
    assert "typer" in loaded(done)[1]
    assert answer(postgresql) == truth.expected("NY", "PPO", with_lookup=False)


@pytest.mark.parametrize(("source", "database", "code", "says"), [
    ("missing.json.gz", "ok", InvalidInput.exit_code, "error: no such file: missing.json.gz"),
    ("garbage", "ok", InvalidInput.exit_code, "error: not a table of contents"),
    ("toc", "unreachable", ServerUnavailable.exit_code, "error: cannot connect to DATABASE_URL"),
    ("toc", "malformed", InvalidInput.exit_code, "error: invalid DATABASE_URL"),
])
def test_the_entry_and_the_typer_command_end_the_same_way(tmp_path, toc, db_url, postgresql, source, database,
                                                          code, says):
    """One line on stderr, the documented exit code, the failed run recorded, by either path."""
    path = {"toc": str(toc[0]), "missing.json.gz": "missing.json.gz"}.get(source)
    if source == "garbage":
        path = str(tmp_path / "garbage.json")
        (tmp_path / "garbage.json").write_text('{"reporting_entity_name": "x", "in_network": []}\n')
    url = {"ok": db_url, "unreachable": "postgresql://nobody@/x?host=/nonexistent&connect_timeout=2",
           "malformed": "not a url at all"}[database]
    endings = []
    for form in (["-q"], ["-q", "--timeout", "3e1"]):  # the entry's form, then one only Typer reads
        done = carepg(url, "mrf", "ingest", *form, path)
        stderr = done.stderr.rsplit("\nloaded at start:", 1)[0].strip()
        assert done.returncode == code and stderr.startswith(says) and "\n" not in stderr, done.stderr
        assert "Traceback" not in done.stderr and done.stdout == ""
        endings.append((done.returncode, stderr))
    assert endings[0] == endings[1]
    failed = postgresql.execute("SELECT count(*) FROM mrf_private.ingest_run WHERE status = 'failed'").fetchone()[0]
    assert failed == (2 if source == "garbage" else 0)  # a source that cannot be opened is not a run


@pytest.mark.parametrize("held_rows", [load_mod.MAX_HELD_ROWS, 7])
def test_rows_parsed_before_the_database_is_ready_are_held_then_sent(monkeypatch, toc, db_url, postgresql,
                                                                     held_rows):
    """A database that takes its time: the whole index is parsed before the run is recorded (held rows sent
    when the COPY opens), or the stream waits once the held rows reach their cap; the same answer either way."""
    path, truth = toc
    connect = db.quick_connect

    def slow_connect(*args, **kwargs):
        time.sleep(1.0)
        return connect(*args, **kwargs)

    monkeypatch.setattr(db, "quick_connect", slow_connect)
    monkeypatch.setattr(load_mod, "MAX_HELD_ROWS", held_rows)
    summary = ingest_mod.ingest(db_url, str(path))
    assert answer(postgresql) == truth.expected("NY", "PPO", with_lookup=False)
    assert postgresql.execute("SELECT count(*) FROM mrf_private.plan_entry WHERE run_id = %s",
                              (summary.run_id,)).fetchone()[0] == summary.plan_links
    assert postgresql.execute("SELECT status FROM mrf_private.ingest_run").fetchall() == [("succeeded",)]
