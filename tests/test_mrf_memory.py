"""Peak memory stays bounded whatever the file size: the ingest never holds the document."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from carepg.mrf.generate import generate

REPORT_PEAK = """
import atexit, sys
atexit.register(lambda: sys.stderr.write([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]))
sys.argv = ["carepg", *sys.argv[1:]]
from carepg.main import main  # what the `carepg` command runs
sys.exit(main())
"""
BUDGET_MB = 100  # peak RSS allowed for the whole `carepg mrf ingest` process (interpreter and libraries included)


@pytest.mark.slow
@pytest.mark.parametrize(("style", "size_mb"), [("canonical", 400), ("pretty", 250)])
def test_peak_rss_is_below_budget_on_a_larger_file(tmp_path, db_url, postgresql, style, size_mb):
    path = tmp_path / "big.json"  # uncompressed, so the file on disk is what the parser reads
    truth = generate(path, raw_bytes=size_mb * 10**6, style=style, bulk=200, seed=8)
    assert path.stat().st_size > BUDGET_MB * 10**6
    env = {**os.environ, "DATABASE_URL": db_url}
    # The child reports its own high-water mark (VmHWM, this process's address space only). getrusage's
    # ru_maxrss would also count the pages the child inherited from this big pytest process before exec.
    proc = subprocess.run([sys.executable, "-c", REPORT_PEAK, "mrf", "ingest", "--quiet", str(path)], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    stdout = proc.stdout
    peak_mb = int(proc.stderr.rsplit("VmHWM:", 1)[1].split()[0]) / 1024  # kB
    assert peak_mb < BUDGET_MB, f"peak RSS {peak_mb:.0f} MB for a {size_mb} MB file"
    assert ("ijson path" if style == "pretty" else "line path") in stdout
    got = [r[0] for r in postgresql.execute("SELECT url FROM mrf.network_files('NY', 'PPO')").fetchall()]
    assert got == truth.expected("NY", "PPO", with_lookup=False)
