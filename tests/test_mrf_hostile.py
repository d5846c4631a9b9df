"""Hostile input: whatever the nesting, line length or whitespace, `mrf ingest` and `mrf lookup` stay small.

Each case runs the real command in a child process under an address-space limit (so a regression is an
out-of-memory failure here, not on someone's machine) and must end with one clear line on stderr, the invalid-
input exit code, a bounded peak RSS (the child's own VmHWM) and the previous ingest's answer unchanged.
"""

from __future__ import annotations

import gzip
import os
import resource
import subprocess
import sys

import pytest

from carepg.errors import InvalidInput
from carepg.mrf import ingest as ingest_mod
from carepg.mrf.generate import generate

ADDRESS_SPACE = 1 << 30  # RLIMIT_AS of the child: a blow-up fails fast instead of swapping
PEAK_MB = 100  # the child's peak RSS (interpreter and libraries are ~55 MB of it; the worst case here ~85 MB)
INVALID_INPUT = InvalidInput.exit_code  # README, "Errors and exit codes"

CHILD = """
import atexit, os, sys
def peak():
    with open(os.environ["PEAK_FILE"], "w") as out:
        out.write([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0])
atexit.register(peak)
sys.argv = ["carepg", *sys.argv[1:]]
from carepg.main import main  # what the `carepg` command runs
sys.exit(main())
"""

DEPTH = 100_000
ARRAYS = b"[" * DEPTH + b"]" * DEPTH
OBJECTS = b'{"a":' * DEPTH + b"1" + b"}" * DEPTH
PLAN = b'{"plan_name":"ANTHEM PPO - ACME - ANTHEM","plan_id_type":"ein","plan_id":"1","plan_market_type":"group"}'
FILE = b'{"description":"In-Network Negotiated Rates Files","location":"https://x.example/anthem/NY_X.json.gz"}'
HEAD = b'{"reporting_entity_name":"Evil Inc","reporting_structure":['

# Where the deep value sits: every position of the table-of-contents schema, and keys it does not have.
POSITIONS = {
    "top-level": lambda d: b'{"reporting_structure":' + d + b"}",
    "root": lambda d: d,
    "top-level-other-key": lambda d: b'{"reporting_entity_name":"Evil Inc","extra":' + d + b',"reporting_structure":[]}',
    "reporting_structure": lambda d: HEAD + d + b"]}",
    "a-structure": lambda d: HEAD + b'{"reporting_plans":[' + PLAN + b'],"in_network_files":[' + FILE + b'],"x":' + d + b"}]}",
    "reporting_plans": lambda d: HEAD + b'{"reporting_plans":' + d + b',"in_network_files":[' + FILE + b"]}]}",
    "reporting_plans-item": lambda d: HEAD + b'{"reporting_plans":[' + d + b'],"in_network_files":[' + FILE + b"]}]}",
    "a-plan": lambda d: HEAD + b'{"reporting_plans":[{"plan_name":"P","x":' + d + b'}],"in_network_files":[' + FILE + b"]}]}",
    "a-plan-field": lambda d: HEAD + b'{"reporting_plans":[{"plan_name":"P","plan_id":' + d + b'}],"in_network_files":[' + FILE + b"]}]}",
    "in_network_files": lambda d: HEAD + b'{"reporting_plans":[' + PLAN + b'],"in_network_files":' + d + b"}]}",
    "in_network_files-item": lambda d: HEAD + b'{"reporting_plans":[' + PLAN + b'],"in_network_files":[' + d + b"]}]}",
    "a-file-entry": lambda d: HEAD + b'{"reporting_plans":[' + PLAN + b'],"in_network_files":[{"location":"u","x":' + d + b"}]}]}",
    "a-file-location": lambda d: HEAD + b'{"reporting_plans":[' + PLAN + b'],"in_network_files":[{"location":' + d + b"}]}]}",
    "allowed_amount_file": lambda d: HEAD + b'{"reporting_plans":[' + PLAN + b'],"allowed_amount_file":' + d + b"}]}",
    "allowed_amount_file-entry": lambda d: HEAD + b'{"reporting_plans":[' + PLAN + b'],"allowed_amount_file":{"location":"u","x":' + d + b"}}]}",
}


def _line_layout(doc: bytes) -> bytes:
    """The same document as Anthem lays it out: the header on its own line, then the structure's line."""
    if doc.startswith(HEAD):
        return HEAD + b"\n" + doc[len(HEAD) : -2] + b"\n]}\n"
    return doc


SKIPPED_POSITIONS = ("top-level-other-key", "a-structure", "a-plan", "a-file-entry", "allowed_amount_file-entry")


def _deep_cases() -> dict[str, tuple[list, str]]:
    """Nested arrays in every position, in both layouts; nested objects where the parser skips a value."""
    cases = {}
    for position, make in POSITIONS.items():
        doc = make(ARRAYS)
        cases[f"{position}/arrays"] = ([doc], "json")
        if doc.startswith(HEAD):
            cases[f"{position}/arrays/lines"] = ([_line_layout(doc)], "json")
        if position in SKIPPED_POSITIONS:
            cases[f"{position}/objects"] = ([make(OBJECTS)], "json")
    return cases



MiB = 1 << 20
BIG = 300  # MiB: a whitespace bomb this large inflates from ~300 KB of gzip


def many(piece: bytes, mib: int) -> tuple[bytes, int]:
    """`piece` repeated to about `mib` MiB (written without ever holding it whole)."""
    return piece * max(MiB // len(piece), 1), mib


# Each case: its parts (bytes, or (block, times) for a block repeated) and how it is stored.
OTHER_CASES = {
    # One endless line: a string, a number, garbage, and structures that never end.
    "endless-string": ([HEAD + b'{"reporting_plans":[{"plan_name":"', many(b"A", 40)], "json"),
    "endless-number": ([b'{"reporting_entity_name":"Evil Inc","version":', many(b"9", 40)], "json.gz"),
    "endless-garbage": ([many(b"x", 40)], "json.gz"),
    "endless-structure": ([HEAD + b"\n" + b'{"reporting_plans":[' + PLAN, many(b"," + PLAN, 40)], "json.gz"),
    "endless-files-line": ([HEAD + b"\n" + b'{"reporting_plans":[' + PLAN + b'],"in_network_files":[',
                            many(FILE + b",", 40)], "json.gz"),
    "tiny-containers-line": ([HEAD + b"\n" + b'{"reporting_plans":[', many(b"{},", 12), b"{}]}\n]}"], "json.gz"),
    "tiny-containers-pretty": ([HEAD + b'\n  {\n "reporting_plans": [', many(b"[],\n", 12), b"[]]}]}"], "json.gz"),
    "many-plans-one-structure": ([HEAD + b'\n{"reporting_plans":[', many(PLAN + b",\n", 30),
                                  PLAN + b'],\n"in_network_files":[' + FILE + b"]}]}"], "json.gz"),
    # Whitespace bombs: spaces, newlines, before the document, inside it, between structures.
    "whitespace-plain": ([many(b" ", 40)], "json"),
    "whitespace-gzip": ([many(b" ", BIG)], "json.gz"),
    "newlines-gzip": ([many(b"\n", BIG)], "json.gz"),
    "whitespace-in-header-gzip": ([b'{"reporting_entity_name":', many(b" ", BIG), b'"x"}'], "json.gz"),
    "whitespace-after-header-gzip": ([HEAD + b"\n", many(b" \n", BIG), b"]}\n"], "json.gz"),
    "whitespace-in-a-string-gzip": ([b'{"reporting_entity_name":"', many(b" ", BIG), b'"}'], "json.gz"),
}

LOOKUP_CASES = {
    "deep-arrays": ([b'{"In-Network Negotiated Rates Files":' + ARRAYS + b"}"], "json"),
    "deep-objects": ([b'{"In-Network Negotiated Rates Files":' + OBJECTS + b"}"], "json"),
    "deep-but-sparse": ([b'{"pad":"' + b"x" * 500_000 + b'","In-Network Negotiated Rates Files":' + b"[" * 5000
                         + b"]" * 5000 + b"}"], "json"),
    "huge": ([b'{"In-Network Negotiated Rates Files":[',
              many(b'{"url":"https://x/a.json.gz","displayname":"NY_PPO_A"},', 12), b"{}]}"], "json.gz"),
    "whitespace-gzip": ([many(b" ", BIG)], "json.gz"),
    "tiny-containers": ([b'{"a":[', many(b"{},", 3), b"{}]}"], "json.gz"),
    "not-json": ([b"\x00\x01\x02" * 1000], "json"),
}

TOC_CASES = {**_deep_cases(), **OTHER_CASES}


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    out = tmp_path_factory.mktemp("good") / "anthem.json.gz"
    return out, generate(out, raw_bytes=200_000, seed=4)


def _write(tmp_path, parts: list, kind: str):
    """The case's file; gzip as one member per part, a repeated block as the same member repeated."""
    path = tmp_path / f"hostile.{kind}"
    with path.open("wb") as out:
        for part in parts:
            block, times = part if isinstance(part, tuple) else (part, 1)
            if kind.endswith("gz"):
                block = gzip.compress(block, compresslevel=1)
            for _ in range(times):
                out.write(block)
    return path


def _limit_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def _child(tmp_path, db_url: str, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    peak_file = tmp_path / "peak"
    env = {**os.environ, "DATABASE_URL": db_url, "PEAK_FILE": str(peak_file)}
    proc = subprocess.run([sys.executable, "-c", CHILD, *args], env=env, capture_output=True, text=True,
                          preexec_fn=_limit_address_space, timeout=120)
    peak_mb = int(peak_file.read_text().split()[1]) / 1024 if peak_file.exists() else float("nan")
    return proc, peak_mb


def _answer(postgresql):
    return postgresql.execute("SELECT url FROM mrf.network_files('NY', 'PPO')").fetchall()


def _assert_clean_failure(proc, peak_mb, expected_words=()):
    message = proc.stderr.strip()
    assert proc.returncode == INVALID_INPUT, (proc.returncode, message[-2000:])
    assert message.startswith("error: ") and "\n" not in message and "Traceback" not in message, message[-2000:]
    for word in expected_words:
        assert word in message, message
    assert peak_mb < PEAK_MB, f"peak RSS {peak_mb:.0f} MB: {message}"


@pytest.mark.parametrize("case", sorted(TOC_CASES))
def test_hostile_toc_fails_cleanly_in_bounded_memory(tmp_path, db_url, postgresql, good, case):
    good_path, _ = good
    ingest_mod.ingest(db_url, str(good_path), use_thread=False)
    before = _answer(postgresql)
    assert before
    parts, kind = TOC_CASES[case]
    proc, peak_mb = _child(tmp_path, db_url, "mrf", "ingest", "--quiet", str(_write(tmp_path, parts, kind)))
    _assert_clean_failure(proc, peak_mb, ["byte"])
    assert _answer(postgresql) == before
    status, error = postgresql.execute(
        "SELECT status, error FROM mrf_private.ingest_run ORDER BY run_id DESC LIMIT 1").fetchone()
    assert status == "failed" and error in proc.stderr


@pytest.mark.parametrize("case", sorted(LOOKUP_CASES))
def test_hostile_lookup_document_fails_cleanly_in_bounded_memory(tmp_path, db_url, postgresql, good, case):
    good_path, truth = good
    ingest_mod.ingest(db_url, str(good_path), use_thread=False)
    before = _answer(postgresql)
    entries = postgresql.execute("SELECT count(*) FROM mrf_private.lookup_entry").fetchone()[0]
    parts, kind = LOOKUP_CASES[case]
    proc, peak_mb = _child(tmp_path, db_url, "mrf", "lookup", str(_write(tmp_path, parts, kind)))
    _assert_clean_failure(proc, peak_mb)
    assert _answer(postgresql) == before
    assert postgresql.execute("SELECT count(*) FROM mrf_private.lookup_entry").fetchone()[0] == entries
