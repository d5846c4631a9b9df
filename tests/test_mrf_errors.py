"""Bad input: one clear line with a byte offset, a non-zero exit, the run recorded as failed, nothing partial."""

from __future__ import annotations

import gzip
import json

import pytest
from typer.testing import CliRunner

from carepg.cli import app
from carepg.errors import InvalidInput, NotFound
from carepg.errors import InvalidInput
from carepg.mrf import ingest as ingest_mod
from carepg.errors import BadInput
from carepg.mrf.generate import generate
from carepg.mrf.inflate import Inflater
from carepg.mrf.source import Source

pytestmark = pytest.mark.fast

runner = CliRunner()


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    out = tmp_path_factory.mktemp("good") / "anthem.json.gz"
    return out, generate(out, raw_bytes=200_000, seed=4)


def _run(monkeypatch, db_url, *args):
    monkeypatch.setenv("DATABASE_URL", db_url)
    return runner.invoke(app, ["mrf", *args])


def _state(postgresql):
    files = postgresql.execute("SELECT count(*) FROM mrf_private.file").fetchone()[0]
    runs = postgresql.execute("SELECT status, error FROM mrf_private.ingest_run ORDER BY run_id").fetchall()
    return files, runs


def _bad_cases(good_path):
    raw = gzip.decompress(good_path.read_bytes())
    gz = good_path.read_bytes()
    middle = raw.index(b'"location"', len(raw) // 2)
    return {
        "truncated-gzip": (gz[: len(gz) * 2 // 3], "truncated gzip"),
        "corrupt-gzip": (gz[:2000] + bytes(200) + gz[2200:], "corrupt gzip"),
        "corrupt-json": (gzip.compress(raw[:middle] + b"}}" + raw[middle:]), "corrupt JSON"),
        "json-cut-short": (gzip.compress(raw[: len(raw) // 2]), "corrupt JSON"),
        "not-a-toc": (json.dumps({"reporting_entity_name": "x", "in_network": []}).encode(), "not a table of contents"),
        "lookup-doc": (json.dumps({"In-Network Negotiated Rates Files": []}).encode(), "EIN-lookup"),
        "array": (b"[1, 2, 3]", "not a table of contents"),
        "bad-structure": (b'{"reporting_entity_name":"x","reporting_structure":[{"plans":[]}]}', "not a table of contents"),
        "empty": (b"", "empty"),
    }


@pytest.mark.parametrize("case", ["truncated-gzip", "corrupt-gzip", "corrupt-json", "json-cut-short", "not-a-toc",
                                  "lookup-doc", "array", "bad-structure", "empty"])
def test_bad_input_fails_cleanly_and_keeps_the_previous_index(monkeypatch, db_url, postgresql, tmp_path, good, case):
    good_path, truth = good
    assert _run(monkeypatch, db_url, "ingest", "-q", str(good_path)).exit_code == 0
    before = postgresql.execute("SELECT url FROM mrf.network_files('NY', 'PPO')").fetchall()
    files_before, _ = _state(postgresql)

    data, expected = _bad_cases(good_path)[case]
    bad = tmp_path / ("bad.json.gz" if data[:2] == b"\x1f\x8b" else "bad.json")
    bad.write_bytes(data)
    result = _run(monkeypatch, db_url, "ingest", "-q", str(bad))

    assert result.exit_code == InvalidInput.exit_code, result.output
    message = result.output.strip()
    assert message.startswith("error: ") and "\n" not in message and "Traceback" not in message
    assert expected in message
    if case != "empty":
        assert "byte" in message  # where it went wrong
    files_after, runs = _state(postgresql)
    assert files_after == files_before
    assert runs[-1][0] == "failed" and expected in runs[-1][1]
    assert postgresql.execute("SELECT url FROM mrf.network_files('NY', 'PPO')").fetchall() == before


def test_reingest_replaces_the_previous_run_atomically(db_url, postgresql, tmp_path, good):
    good_path, _ = good
    first = ingest_mod.ingest(db_url, str(good_path), use_thread=False)
    other = tmp_path / "other.json.gz"
    truth = generate(other, raw_bytes=150_000, seed=99, bulk=8)
    second = ingest_mod.ingest(db_url, str(other), use_thread=False)
    assert second.replaced_run_id == first.run_id
    runs = {r[0] for r in postgresql.execute("SELECT DISTINCT run_id FROM mrf_private.file").fetchall()}
    assert runs == {second.run_id}  # the old run's rows are gone
    current = postgresql.execute("SELECT current_run_id FROM mrf_private.reporting_entity").fetchall()
    assert current == [(second.run_id,)]
    got = [r[0] for r in postgresql.execute("SELECT url FROM mrf.network_files('NY', 'PPO')").fetchall()]
    assert got == truth.expected("NY", "PPO", with_lookup=False)


def test_failed_load_is_invisible_while_it_runs(db_url, postgresql, tmp_path, good):
    """Readers never see a half-loaded run: rows COPYed before the failure were never committed."""
    good_path, _ = good
    raw = gzip.decompress(good_path.read_bytes())
    bad = tmp_path / "late-error.json"
    bad.write_bytes(raw[: len(raw) - 10])  # everything but the end: all structures are read, then it fails
    with pytest.raises(InvalidInput):
        ingest_mod.ingest(db_url, str(bad), use_thread=False)
    assert postgresql.execute("SELECT count(*) FROM mrf_private.plan").fetchone()[0] == 0
    assert postgresql.execute("SELECT count(*) FROM mrf_private.file").fetchone()[0] == 0
    status = postgresql.execute("SELECT status, bytes_read FROM mrf_private.ingest_run").fetchall()
    assert status == [("failed", len(raw) - 10)]


def test_files_before_any_ingest_and_bad_arguments(monkeypatch, db_url):
    result = _run(monkeypatch, db_url, "files", "--state", "NY", "--plan-type", "PPO")
    assert result.exit_code == NotFound.exit_code and "no table of contents has been ingested" in result.output
    result = _run(monkeypatch, db_url, "files", "--state", "NY", "--plan-type", "XYZ")
    assert result.exit_code == InvalidInput.exit_code and "unknown plan type" in result.output
    result = _run(monkeypatch, db_url, "files", "--state", "New York", "--plan-type", "PPO")
    assert result.exit_code == InvalidInput.exit_code and "two-letter" in result.output
    result = _run(monkeypatch, db_url, "ingest", "-q", "/nonexistent/toc.json.gz")
    assert result.exit_code == InvalidInput.exit_code and "no such file" in result.output


class BytesSource(Source):
    """An in-memory source handing out at most `step` bytes per read (chunk boundaries anywhere)."""

    def __init__(self, data: bytes, step: int = 4096) -> None:
        self.data, self.step, self.name, self.size = data, step, "bytes", len(data)

    def readinto(self, buf) -> int:
        n = min(len(buf), self.step, len(self.data) - self.position)
        buf[:n] = self.data[self.position : self.position + n]
        self.position += n
        return n


@pytest.mark.parametrize("background", [True, False])
@pytest.mark.parametrize("backend", ["isal", "zlib"])
def test_both_inflaters_read_members_and_detect_truncation(good, backend, background):
    """zlib is the fallback when isal is unavailable: same stream, same errors, in the thread or not."""
    good_path, _ = good
    raw = gzip.decompress(good_path.read_bytes())
    two_members = gzip.compress(raw[:1000]) + gzip.compress(raw[1000:])

    def inflate(data: bytes, out_chunk: int = 1 << 16) -> bytes:
        inflater = Inflater(BytesSource(data), backend=backend, background=background, out_chunk=out_chunk)
        return b"".join(inflater)

    assert inflate(two_members) == raw
    assert inflate(two_members, out_chunk=777) == raw
    assert inflate(raw) == raw  # plain JSON passes through
    with pytest.raises(BadInput, match=r"truncated gzip: the compressed stream ends at byte [\d,]+ "):
        inflate(two_members[:-100])
    corrupt = two_members[:3000] + bytes(300) + two_members[3300:]
    with pytest.raises(BadInput, match=r"corrupt gzip data before compressed byte [\d,]+ \(after [\d,]+ decompressed"):
        inflate(corrupt)
    with pytest.raises(BadInput, match="empty"):
        inflate(b"")
