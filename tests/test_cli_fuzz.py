"""Every command, given junk: never a traceback, an exit code from the documented set, a few lines of stderr.

Hypothesis generates arguments and environment for each command (numbers of every size, dates, cursors,
URLs, paths, odd text) against a real, seeded database, and the commands run in process through Click's
runner. Values that would make a command run for long on purpose (a valid `refresh --every`, a huge
`mrf generate --size`) are left out; everything else is fair game. Failures of this test are bugs in carepg:
the error that escaped is named in the assertion.
"""

from __future__ import annotations

import base64
import json
import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from carepg import seed
from carepg.cli import app

runner = CliRunner()
EXAMPLES = int(os.environ.get("CAREPG_FUZZ_EXAMPLES", "40"))
# README "Errors and exit codes": 1 (a bug) is deliberately absent, and so is 2: a bad argument is 7.
DOCUMENTED_EXIT_CODES = {0, 3, 4, 5, 6, 7, 9, 10, 11}

ints = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, 1, -1, 1000, 1001, 2**31 - 1, 2**31, -(2**31) - 1, 2**63]),
).map(str)
floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                   st.sampled_from(["nan", "inf", "-inf", "1e309", "-0", "0x10", "1_000", "", " "]))  # fmt: skip
# Text a shell could pass: no NUL (argv and the environment cannot carry one).
text = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=60)
timestamps = st.one_of(text, st.sampled_from([
    "now", "NOW ", "2023-02-10", "2023-02-30", "9999-12-31T23:59:59.999999+14:00", "0001-01-01T00:00:00-14:00",
    "2023-02-10T25:00", "2023-W06", "20230210", "1e9", "infinity", "-infinity", "epoch", "2023-02-10 05:00:00.001",
]))  # fmt: skip


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


cursors = st.one_of(
    text,
    st.binary(max_size=80).map(b64),
    st.sampled_from([b64(b"[" * 1000), b64(b"[" * 100000), b64(b'["2023-02-10T05:00:00",1e400]'),
                     b64(b'["9999-12-31T23:59:59.999999",2147483647]'), b64(b'["x",1]'), b64(b'{"a":1}'),
                     b64(json.dumps(["2023-02-10T05:00:00", 1] * 1000).encode()), "=" * 10, "A" * 5000]),  # fmt: skip
)
urls = st.one_of(text, st.sampled_from([
    "http://[::1", "http://", "https://", "http://127.0.0.1:1/toc.json", "ftp://example.org/x", "http://a b/",
    "http://127.0.0.1:99999/", "https://[::1]:0/", "//x", "file:///etc/passwd", "http://%zz/",
]))  # fmt: skip


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    (root / "junk.bin").write_bytes(os.urandom(3000))
    (root / "junk.json").write_text('{"reporting_structure": [' + "[" * 5000 + "]" * 5000 + "]}")
    (root / "empty.json").write_bytes(b"")
    (root / "dir").mkdir()
    return [str(root / n) for n in ("junk.bin", "junk.json", "empty.json", "dir", "missing/x.json")] + [
        "/nonexistent/dir/file.txt", "/dev/null", "/proc/self/mem", "", "/", "x" * 5000, "relative/path",
    ]


@pytest.fixture(scope="module")
def seeded_url(pg_server):
    """A migrated database with a small seed, shared by the examples (commands may fail on it, not change it)."""
    import psycopg

    from carepg import migrations

    admin = f"postgresql://postgres@/postgres?host={pg_server.host}&port={pg_server.port}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS carepg_cli_fuzz WITH (FORCE)")
        conn.execute("CREATE DATABASE carepg_cli_fuzz")
    url = f"postgresql://postgres@/carepg_cli_fuzz?host={pg_server.host}&port={pg_server.port}"
    migrations.upgrade(url)
    with psycopg.connect(url, autocommit=True) as conn:
        seed.seed(conn, shifts=2000, seed=5)
    return url


def environments(seeded_url: str):
    return st.fixed_dictionaries({
        "DATABASE_URL": st.one_of(st.just(seeded_url), st.just(seeded_url), text, st.sampled_from([
            "postgresql://postgres@/nowhere?host=/nonexistent&port=1", "postgres://u:p@[::1", "not a url",
            seeded_url + "&foo=bar", seeded_url.replace("carepg_cli_fuzz", "no_such_db"), "host=/tmp port=0",
        ])),  # fmt: skip
        "CAREPG_PORT": st.one_of(st.just("55999"), text, ints),
        # Homes no process can create (even as root): no command may start a cluster of its own here.
        "CAREPG_HOME": st.sampled_from(["/proc/no-such-home", "/dev/null/carepg-home"]),
    })


def optional(flag: str, values) -> st.SearchStrategy[list[str]]:
    return st.one_of(st.just([]), values.map(lambda v: [flag, v]))


def commands(paths: list[str]) -> dict[str, st.SearchStrategy]:
    path = st.one_of(st.sampled_from(paths), text)
    source = st.one_of(path, urls)
    parts = {
        "shifts": (st.just(["shifts"]), st.one_of(ints, text).map(lambda v: [v]), optional("--from", timestamps),
                   optional("--to", timestamps), optional("--limit", ints), optional("--after", cursors),
                   st.sampled_from([[], ["--json"]])),
        "claims": (st.just(["claims"]), st.one_of(ints, text).map(lambda v: [v]), optional("--from", timestamps),
                   optional("--to", timestamps), optional("--limit", ints), optional("--after", cursors),
                   st.sampled_from([[], ["--json"]])),
        "claim": (st.sampled_from([["claim"], ["release"]]), st.lists(st.one_of(ints, text, st.just("101")),
                                                                      min_size=0, max_size=3)),
        "seed": (st.just(["seed"]), optional("--profile", st.one_of(text, st.just("large"))),
                 optional("--seed", ints), optional("--shifts", ints)),
        "refresh": (st.just(["refresh"]), st.sampled_from([[], ["--blocking"], ["--unschedule"]]),
                    optional("--schedule", text),
                    # Only intervals the command must refuse: a valid one loops until stopped.
                    optional("--every", floats.filter(lambda f: not _valid_interval(f)))),
        "migrate": (st.just(["migrate"]), st.one_of(st.just([]), st.just(["head"]), text.map(lambda v: [v]),
                                                     text.map(lambda v: [v, "--down"]))),  # fmt: skip
        "demo": (st.just(["demo"]), optional("--limit", ints), optional("--shifts", ints)),
        "db": (st.sampled_from([["db", "status"], ["db", "url"], ["db", "up"], ["db", "down"]]),),
        "mrf ingest": (st.just(["mrf", "ingest"]), source.map(lambda v: [v]), st.just(["-q"]),
                       optional("--timeout", floats), optional("--retries", ints)),
        "mrf lookup": (st.just(["mrf", "lookup"]), st.lists(source, min_size=1, max_size=3)),
        "mrf files": (st.just(["mrf", "files"]), optional("--state", st.one_of(text, st.just("NY"))),
                      optional("--plan-type", st.one_of(text, st.just("PPO"))), optional("--issuer", text),
                      optional("--output", path)),
        "mrf runs": (st.just(["mrf", "runs"]), optional("--limit", ints)),
        "mrf generate": (st.just(["mrf", "generate"]), path.map(lambda v: [v]),
                         optional("--size", st.one_of(text, st.sampled_from(["1K", "0", "-5K", "1e400", "9T"]))),
                         optional("--style", text), optional("--seed", ints), optional("--bulk", ints)),
    }
    return {name: st.tuples(*p).map(lambda ps: [arg for part in ps for arg in part]) for name, p in parts.items()}


COMMAND_NAMES = ["shifts", "claims", "claim", "seed", "refresh", "migrate", "demo", "db", "mrf ingest", "mrf lookup", "mrf files",
                 "mrf runs", "mrf generate"]  # fmt: skip


def _valid_interval(raw: str) -> bool:
    try:
        value = float(raw)
    except ValueError:
        return False
    return value == value and 0 < value <= 86_400 * 7


def _bounded(args: list[str]) -> bool:
    """Leave out the few combinations that would do real, long work on purpose."""
    if args[:2] == ["mrf", "generate"] and "--size" in args:
        size = args[args.index("--size") + 1].strip().upper()
        return not re.fullmatch(r"[0-9.]+[GT]B?", size) and not re.fullmatch(r"[0-9]{7,}", size)
    if args[:2] == ["mrf", "generate"]:
        return True
    if args[:1] == ["seed"] and "--shifts" in args:
        return True  # refused anyway: the database already holds data and --reset is never generated
    return True


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMAND_NAMES)
def test_every_command_fails_cleanly_on_junk(command, seeded_url, paths, tmp_path):
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(args=commands(paths)[command], env=environments(seeded_url))
    def run(args, env):
        if not _bounded(args):
            return
        os.chdir(tmp_path)  # `mrf generate` with a relative path writes here, nowhere else
        result = runner.invoke(app, args, env=env, catch_exceptions=True)
        escaped = result.exception if not isinstance(result.exception, SystemExit) else None
        assert escaped is None, f"{args} {env}: {type(escaped).__name__}: {escaped}"
        assert result.exit_code in DOCUMENTED_EXIT_CODES, (args, env, result.exit_code, result.output)
        assert "Traceback" not in result.output
        if result.exit_code != 0:
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            assert 1 <= len(lines) <= 4, (args, env, result.stderr)
            assert all(len(line) < 600 for line in lines), (args, result.stderr)

    cwd = os.getcwd()
    try:
        run()
    finally:
        os.chdir(cwd)
