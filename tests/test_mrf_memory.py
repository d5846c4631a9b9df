"""Peak memory stays bounded whatever the file size: the ingest never holds the document."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from carepg.mrf.generate import generate

BUDGET_MB = 150  # peak RSS allowed for the whole `carepg mrf ingest` process (interpreter and libraries included)


@pytest.mark.slow
@pytest.mark.parametrize(("style", "size_mb"), [("canonical", 400), ("pretty", 250)])
def test_peak_rss_is_below_budget_on_a_larger_file(tmp_path, db_url, postgresql, style, size_mb):
    path = tmp_path / "big.json"  # uncompressed, so the file on disk is what the parser reads
    truth = generate(path, raw_bytes=size_mb * 10**6, style=style, bulk=200, seed=8)
    assert path.stat().st_size > BUDGET_MB * 10**6
    env = {**os.environ, "DATABASE_URL": db_url}
    proc = subprocess.Popen([sys.executable, "-m", "carepg", "mrf", "ingest", "--quiet", str(path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    stdout, stderr = proc.stdout.read().decode(), proc.stderr.read().decode()
    assert os.waitstatus_to_exitcode(status) == 0, stderr
    peak_mb = usage.ru_maxrss / 1024  # Linux: kilobytes
    assert peak_mb < BUDGET_MB, f"peak RSS {peak_mb:.0f} MB for a {size_mb} MB file"
    assert ("ijson path" if style == "pretty" else "line path") in stdout
    got = [r[0] for r in postgresql.execute("SELECT url FROM mrf.network_files('NY', 'PPO')").fetchall()]
    assert got == truth.expected("NY", "PPO", with_lookup=False)
