"""`carepg shifts` without Typer (main.py) is the Typer command, only sooner.

main.read_shifts() takes a command line only when Click would read it the same way and every value is valid;
hypothesis throws command lines of every shape at both and checks that whatever the fast reader takes, Typer
parses to the same values (and that it takes the plain ones). End to end, the real `carepg` process and the
Typer app in process answer the same bytes and exit codes against a real database.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from typer._click.exceptions import ClickException
from typer.testing import CliRunner

from carepg import args, cursor
from carepg.cli import app
from carepg.errors import CarepgError
from carepg.main import read_shifts

SHIFTS = typer.main.get_command(app).commands["shifts"]  # type: ignore[attr-defined]


def typer_reads(argv: list[str]) -> dict | None:
    """What the Typer command would call pages.available() with; None when it refuses (or prints help)."""
    try:
        ctx = SHIFTS.make_context("shifts", list(argv[1:]))
        p = ctx.params
        window = args.window(p["start_from"], p["start_to"], ("--from", "--to"))
    except (ClickException, CarepgError, typer.Exit):  # Exit: --help
        return None
    return {"worker_id": p["worker_id"], "limit": p["limit"], "after": p["after"], "as_json": p["as_json"], **window}


CURSOR = cursor.encode(__import__("datetime").datetime(2023, 2, 10, 5, 0, 0, 1000), 501295)
values = st.one_of(
    st.sampled_from(["101", "1", "0", "-1", "2147483647", "2147483648", "x", "", " 5", "5 ", "+5", "٥", "1e3",
                     "2023-02-10", "2023-02-10T05:00", "2023-13-01", "2023-02-10T05:00:00+02:00", "1000", "1001",
                     CURSOR, CURSOR + "x", "--", "-", "--json", "--limit", "-5"]),
    st.text(max_size=8).filter(lambda v: v.strip().lower() != "now"),  # `now` is a moving target: not compared
)  # fmt: skip
options = st.sampled_from(["--from", "--to", "--limit", "--after", "--json", "--help", "--bogus", "-j", "--lim"])
words = st.one_of(values, options, st.builds(lambda o, v: f"{o}={v}", options, values))


@settings(max_examples=600, deadline=None)
@given(argv=st.lists(words, max_size=7).map(lambda rest: ["shifts", *rest]))
def test_whatever_the_fast_reader_takes_typer_reads_the_same(argv):
    fast = read_shifts(argv)
    if fast is not None:
        assert fast == typer_reads(argv), argv


@settings(max_examples=200, deadline=None)
@given(worker=st.integers(1, 2**31 - 1), limit=st.one_of(st.none(), st.integers(1, 1000)),
       start_from=st.one_of(st.none(), st.dates().map(str)), as_json=st.booleans(), equals=st.booleans(),
       order=st.randoms(use_true_random=False))  # fmt: skip
def test_plain_command_lines_take_the_fast_path(worker, limit, start_from, as_json, equals, order):
    pairs = [[f"--limit={limit}"] if equals else ["--limit", str(limit)]] if limit is not None else []
    pairs += [["--from", start_from]] if start_from is not None else []
    pairs += [["--json"]] if as_json else []
    pairs.append([str(worker)])
    order.shuffle(pairs)
    argv = ["shifts", *[word for pair in pairs for word in pair]]
    fast = read_shifts(argv)
    assert fast is not None and fast == typer_reads(argv), argv


def test_the_process_answers_what_the_typer_command_answers(web_db, tmp_path):
    worker = web_db.workers["CNA"]
    env = {**{k: v for k, v in os.environ.items() if k != "CAREPG_DEBUG"}, "DATABASE_URL": web_db.url,
           "CAREPG_HOME": str(tmp_path / "no-cluster-here")}  # fmt: skip
    first = CliRunner().invoke(app, ["shifts", str(worker), "--limit", "3"], env=env)
    after = first.stdout.splitlines()[-1].split()[-1]
    cases = [
        ["shifts", str(worker), "--limit", "3"],
        ["shifts", str(worker), "--limit=3", "--after", after],
        ["shifts", "--json", str(worker), "--from", "2023-02-10", "--to", "2023-02-11", "--limit", "2"],
        ["shifts", str(worker), "--from", "2030-01-01"],  # nothing there
        ["shifts", "2000000000"],  # no such worker: exit 3
        ["shifts", str(worker), "--limit", "1000", "--json"],
        ["shifts", str(worker), "--from", "2023-02-11", "--to", "2023-02-10"],  # inverted: Typer says so
        ["shifts", str(worker), "--limit", "0"],
    ]
    for argv in cases:
        process = subprocess.run([sys.executable, "-m", "carepg", *argv], env=env, capture_output=True, text=True,
                                 timeout=120)  # fmt: skip
        typer_side = CliRunner().invoke(app, argv, env=env)
        assert (process.returncode, process.stdout, process.stderr) == (
            typer_side.exit_code, typer_side.stdout, typer_side.stderr), argv
    assert read_shifts(cases[0]) is not None and read_shifts(cases[-1]) is None


@pytest.mark.parametrize("argv", [["shifts", "101", "--help"], ["shifts"], ["shifts", "101", "102"],
                                  ["shifts", "101", "--limit", "5", "--limit", "6"], ["shifts", "--", "101"],
                                  ["claims", "101"], ["shifts", "101", "--json=1"], ["shifts", "101", "--from"]])
def test_anything_unusual_goes_to_typer(argv):
    assert read_shifts(argv) is None
