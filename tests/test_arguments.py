"""The argument policy (errors.py): a bad argument of any command is one line and exit code 7, before any work.

Every case runs with DATABASE_URL pointing at a server that cannot be reached, and a CAREPG_HOME where no cluster
can be made: a command that tried to connect, start a cluster, migrate or seed before checking its arguments
would answer 10 ("cannot connect" / "cannot start") instead. The list covers every command and option, the
environment settings, and Click's own usage errors; hypothesis then tries bad values of every class in every
parameter. The web app's query parameters go through the same checks (tests/test_web_api.py keeps their 400s).
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from carepg import migrations
from carepg.cli import app
from carepg.errors import InvalidInput
from carepg.mrf.cli import PLAN_TYPES

UNREACHABLE = "postgresql://postgres@/nowhere?host=/nonexistent&port=1"
NO_HOME = "/proc/no-such-home/carepg"  # no process can create it, root included
BAD = InvalidInput.exit_code


@pytest.fixture(scope="module")
def toc(tmp_path_factory):
    path = tmp_path_factory.mktemp("args") / "toc.json"
    path.write_text('{"reporting_entity_name": "x", "reporting_structure": []}')
    return str(path)


def bad_command_lines(toc: str) -> list[list[str]]:
    return [
        # carepg shifts / claims: the worker, the window, the page, the cursor, unknown and missing words
        ["shifts", "0"], ["shifts", "-1"], ["shifts", "2147483648"], ["shifts", "x"], ["shifts", "+101"],
        ["shifts", "１０１"], ["shifts", ""], ["shifts"], ["shifts", "101", "102"], ["shifts", "101", "--bogus"],
        ["shifts", "101", "--limit", "0"], ["shifts", "101", "--limit", "1001"], ["shifts", "101", "--limit", "x"],
        ["shifts", "101", "--limit"], ["shifts", "101", "--from", "2023-02-30"], ["shifts", "101", "--to", "tomorrow"],
        ["shifts", "101", "--from", "2023-03-01", "--to", "2023-02-01"], ["shifts", "101", "--after", "bm90IGN1cnNvcg"],
        ["shifts", "101", "--after", "!!"], ["shifts", "101", "--json=yes"],
        ["claims", "0"], ["claims", "101", "--limit", "0"], ["claims", "101", "--limit", "-3"],
        ["claims", "101", "--from", "x"], ["claims", "101", "--after", "AAAA"],
        # claim / release
        ["claim", "101"], ["claim", "101", "0"], ["claim", "x", "1"], ["claim", "101", "99999999999"],
        ["release", "101", "-1"], ["release", "0", "5"], ["release", "101", "5", "6"],
        # seed / refresh / migrate / demo
        ["seed", "--shifts", "-1"], ["seed", "--shifts", "1000000001"], ["seed", "--shifts", "many"],
        ["seed", "--seed", "2147483648"], ["seed", "--seed", "1.5"], ["seed", "--profile", "huge"],
        ["refresh", "--every", "0"], ["refresh", "--every", "-1"], ["refresh", "--every", "nan"],
        ["refresh", "--every", "inf"], ["refresh", "--every", "1e12"], ["refresh", "--schedule", "often"],
        ["refresh", "--schedule", "* * *"], ["refresh", "--every", "5", "--schedule", "* * * * *"],
        ["refresh", "--every", "5", "--unschedule"],
        ["migrate", "no-such-revision"], ["migrate", "9999", "--down"], ["migrate", "+0"], ["migrate", "head", "x"],
        ["demo", "--limit", "0"], ["demo", "--limit", "1001"], ["demo", "--shifts", "-1"], ["demo", "--bogus"],
        # serve
        ["serve", "--port", "0"], ["serve", "--port", "65536"], ["serve", "--port", "http"],
        ["serve", "--workers", "0"],
        ["serve", "--threads", "0"], ["serve", "--threads", "100000"], ["serve", "--host", "no such host!"],
        # db
        ["db", "up", "now"], ["db", "status", "--bogus"], ["db", "nothing"], ["nothing"],
        # mrf
        ["mrf", "ingest", "/nonexistent/toc.json.gz"], ["mrf", "ingest", "http://[::1"],
        ["mrf", "ingest", "https:///x"],
        ["mrf", "ingest", "http://exa mple.com/x"], ["mrf", "ingest", "http://h:99999/x"], ["mrf", "ingest", "/"],
        ["mrf", "ingest", toc, "--timeout", "0"], ["mrf", "ingest", toc, "--timeout", "nan"],
        ["mrf", "ingest", toc, "--retries", "-1"], ["mrf", "ingest", toc, "--retries", "1001"], ["mrf", "ingest"],
        ["mrf", "lookup", toc, "/nonexistent/lookup.json"], ["mrf", "lookup"],
        ["mrf", "files", "--state", "NYC", "--plan-type", "PPO"],
        ["mrf", "files", "--state", "NY", "--plan-type", "XYZ"],
        ["mrf", "files", "--state", "N1", "--plan-type", "PPO"], ["mrf", "files", "--plan-type", "PPO"],
        ["mrf", "files", "--state", "NY", "--plan-type", "PPO", "--output", "/nonexistent/dir/urls.txt"],
        ["mrf", "runs", "--limit", "0"], ["mrf", "runs", "--limit", "1001"],
        ["mrf", "generate", "/nonexistent/dir/x.json.gz"], ["mrf", "generate", "x.json", "--size", "0"],
        ["mrf", "generate", "x.json", "--size", "2T"], ["mrf", "generate", "x.json", "--style", "fancy"],
        ["mrf", "generate", "x.json", "--bulk", "-1"], ["mrf", "generate", "x.json", "--seed", "x"],
    ]  # fmt: skip


# Settings: each with a command that reads it.
BAD_SETTINGS = [
    ({"DATABASE_URL": "not a url"}, ["shifts", "101"]), ({"DATABASE_URL": "postgres://u:secret@[::1"}, ["claims", "1"]),
    ({"DATABASE_URL": "host=/tmp port"}, ["seed"]), ({"DATABASE_URL": "postgresql://h/db?bogus=1"}, ["mrf", "runs"]),
    ({"DATABASE_URL": "not a url"}, ["migrate"]), ({"DATABASE_URL": "not a url"}, ["db", "url"]),
    ({"DATABASE_URL": "not a url"}, ["serve"]), ({"DATABASE_URL": "not a url"}, ["demo"]),
    ({"CAREPG_PORT": "http"}, ["shifts", "101"]), ({"CAREPG_PORT": "80"}, ["db", "up"]),
    ({"CAREPG_PORT": "65536"}, ["db", "status"]), ({"CAREPG_PORT": "-1"}, ["migrate"]),
    ({"CAREPG_PORT": "5 5"}, ["demo"]), ({"CAREPG_PORT": "x"}, ["mrf", "files", "--state", "NY", "--plan-type", "PPO"]),
    ({"CAREPG_WEB_POOL_TIMEOUT": "soon"}, ["serve"]), ({"CAREPG_WEB_STATEMENT_TIMEOUT": "-5"}, ["serve"]),
    ({"CAREPG_WEB_DATABASE_URL": "postgres://[::1"}, ["serve"]),
]  # fmt: skip


def environment(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAREPG_", "DATABASE_URL"))}
    return {**env, "DATABASE_URL": UNREACHABLE, "CAREPG_HOME": NO_HOME, **settings}


def carepg(argv: list[str], env: dict[str, str], cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "carepg", *argv], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def assert_refused(result, what) -> None:
    assert result.returncode == BAD, (what, result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), (what, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout and "secret" not in result.stderr, what


@pytest.mark.slow
def test_every_bad_argument_of_every_command_is_seven_in_one_line_before_any_work(toc, tmp_path):
    runs = [(argv, environment()) for argv in bad_command_lines(toc)]
    # The same without DATABASE_URL: no local cluster may be started (or found: none can exist under NO_HOME).
    runs += [(argv, {k: v for k, v in environment().items() if k != "DATABASE_URL"})
             for argv in bad_command_lines(toc) if argv[:1] != ["db"]]  # fmt: skip
    runs += [(argv, environment(**settings)) for settings, argv in BAD_SETTINGS]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda run: carepg(run[0], run[1], tmp_path), runs))
    for (argv, env), result in zip(runs, results):
        assert_refused(result, (argv, {k: env[k] for k in env if k.startswith(("CAREPG_", "DATABASE_URL"))}))
    assert list(tmp_path.iterdir()) == []  # nothing written (mrf generate's OUT included)


def test_the_checks_come_before_connecting_not_instead(tmp_path, toc):
    """The same commands with good arguments do go on to the database: the unreachable one answers 10."""
    for argv in (["shifts", "101"], ["claims", "101", "--limit", "5"], ["seed", "--shifts", "10"], ["demo"],
                 ["mrf", "files", "--state", "NY", "--plan-type", "ppo"], ["mrf", "ingest", "-q", toc]):  # fmt: skip
        result = carepg(argv, environment(), tmp_path)
        assert result.returncode == 10 and "cannot connect" in result.stderr, (argv, result.stderr)


@pytest.mark.parametrize("state, plan_type", [
    *[("NY", t) for t in (*PLAN_TYPES, *(t.lower() for t in PLAN_TYPES), "XYZ", "", "PPO ", "HMOS", "pPo")],
    *[(s, "PPO") for s in ("ny", "Ny", "N1", "NYC", "", " NY", "ÑY")],
])  # fmt: skip
def test_what_mrf_files_checks_before_connecting_is_what_the_function_accepts(postgresql, state, plan_type):
    """`mrf files` checks --state and --plan-type before it connects; mrf.network_files() is the authority
    (CP400 for what it refuses; CP404, nothing ingested, for what it accepts here)."""
    from carepg.mrf.cli import _plan_type, _state

    with pytest.raises(psycopg.Error) as raised:
        postgresql.execute("SELECT * FROM mrf.network_files(%s, %s)", (state, plan_type))
    postgresql.rollback()
    try:
        _state(state), _plan_type(plan_type)
        checked = True
    except InvalidInput:
        checked = False
    assert checked == (raised.value.sqlstate != "CP400"), (state, plan_type, raised.value.sqlstate)


# --- hypothesis: bad values of every class, in every parameter ------------------------------------------------

def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


printable = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=30)
not_digits = printable.filter(lambda v: not (v.isascii() and v.isdigit()))


def integers_outside(low: int, high: int):
    return st.one_of(st.integers(max_value=low - 1), st.integers(min_value=high + 1)).map(str) | not_digits.filter(
        lambda v: not _is_int_text(v))


def _is_int_text(value: str) -> bool:
    stripped = value[1:] if value[:1] in "+-" else value
    return stripped.isascii() and stripped.isdigit()


ids = st.one_of(integers_outside(1, 2**31 - 1), st.sampled_from(["+5", "-0", " 5", "5 ", "٥", "１", "0x10", "1_0"]))
limits = st.one_of(integers_outside(1, 1000), st.sampled_from(["+5", " 5", "5.0", "1e2", "١٠"]))
timestamps = st.one_of(st.text("abcdefghijklmnopqrsuvwxyz", min_size=1, max_size=12).filter(lambda v: v != "now"),
                       st.sampled_from(["2023-02-30", "2023-13-01", "2023-02-10T25:00", "10/02/2023", "2023-W54"]))
cursors = st.one_of(st.binary(min_size=1, max_size=60).map(b64), st.text("!@#$%^&*() ", min_size=1, max_size=20),
                    st.just("A" * 200))
seconds_bad = st.one_of(st.floats(max_value=0.0009).map(repr), st.floats(min_value=604_801).map(repr),
                        st.sampled_from(["nan", "inf", "-inf", "x", ""]))
words = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=10)
revisions_bad = st.one_of(words.filter(lambda v: v not in ("head", "base")),
                          st.integers(10000, 10**6).map(str), st.sampled_from(["+0", "-0", "+1000", "0001x"]))
hosts_bad = st.text("abcdefghijklmnopqrstuvwxyz \t", min_size=1, max_size=10).filter(lambda v: " " in v or "\t" in v)


def cases(toc: str) -> st.SearchStrategy[list[str]]:
    return st.one_of(
        ids.map(lambda v: ["shifts", v]), ids.map(lambda v: ["claims", v]),
        limits.map(lambda v: ["shifts", "101", "--limit", v]), limits.map(lambda v: ["claims", "101", "--limit", v]),
        timestamps.map(lambda v: ["shifts", "101", "--from", v]),
        timestamps.map(lambda v: ["claims", "101", "--to", v]),
        cursors.map(lambda v: ["shifts", "101", "--after", v]), cursors.map(lambda v: ["claims", "101", "--after", v]),
        ids.map(lambda v: ["claim", "101", v]), ids.map(lambda v: ["release", v, "7"]),
        integers_outside(0, 10**9).map(lambda v: ["seed", "--shifts", v]),
        integers_outside(-(2**31), 2**31 - 1).map(lambda v: ["seed", "--seed", v]),
        words.filter(lambda v: v not in ("challenge", "large")).map(lambda v: ["seed", "--profile", v]),
        seconds_bad.map(lambda v: ["refresh", "--every", v]),
        words.map(lambda v: ["refresh", "--schedule", v]),
        revisions_bad.map(lambda v: ["migrate", v]),
        limits.map(lambda v: ["demo", "--limit", v]),
        integers_outside(1, 65535).map(lambda v: ["serve", "--port", v]),
        integers_outside(1, 512).map(lambda v: ["serve", "--workers", v]),
        words.map(lambda v: ["mrf", "ingest", f"/nonexistent/{v}.json"]),
        hosts_bad.map(lambda v: ["mrf", "ingest", f"http://{v}/toc.json"]),
        integers_outside(0, 1000).map(lambda v: ["mrf", "ingest", toc, "--retries", v]),
        printable.filter(lambda v: not (len(v) == 2 and v.isascii() and v.isalpha())).map(
            lambda v: ["mrf", "files", "--state", v, "--plan-type", "PPO"]),
        printable.filter(lambda v: v.upper() not in PLAN_TYPES).map(
            lambda v: ["mrf", "files", "--state", "NY", "--plan-type", v]),
        integers_outside(1, 1000).map(lambda v: ["mrf", "runs", "--limit", v]),
        integers_outside(0, 100_000).map(lambda v: ["mrf", "generate", "x.json", "--bulk", v]),
        words.map(lambda v: ["shifts", "101", f"--{v}x"]),
    )  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_bad_values_of_every_class_are_seven_in_one_line(toc, tmp_path, data):
    argv = data.draw(cases(toc))
    assert migrations.head()  # (the revision chain is read without a database)
    cwd = os.getcwd()
    os.chdir(tmp_path)  # `mrf generate` would write here
    try:
        unset = {k: None for k in os.environ if k.startswith(("CAREPG_", "DATABASE_URL"))}
        result = CliRunner().invoke(app, argv, env={**unset, **environment()})
    finally:
        os.chdir(cwd)
    assert result.exit_code == BAD, (argv, result.exit_code, result.output)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), (argv, result.stderr)
    assert result.stdout == "" and not list(tmp_path.iterdir()), argv
