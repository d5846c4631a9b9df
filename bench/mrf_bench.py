"""Price-transparency ingest benchmark: carepg vs `gzip -dc` vs isal alone, peak RSS, and the ijson path.

    make bench-mrf                        # 5 GB of JSON (the default)
    .venv/bin/python bench/mrf_bench.py --size 5G --dir /tmp/mrf-bench

Generates one Anthem-shaped index (canonical layout, .json.gz) and the same content pretty-printed, then times,
in this order and one after the other (never in parallel): `gzip -dc FILE > /dev/null`, isal decompression
alone (in-process, the same decompressor and buffer sizes carepg uses, and isal's own `python -m isal.igzip -d`),
`carepg mrf ingest --quiet FILE` (line path) and `carepg mrf ingest --quiet PRETTY` (ijson path). Each carepg
run is checked against the generator's ground truth. Prints a Markdown table for PERFORMANCE.md.

The database is the one `carepg` resolves (DATABASE_URL, else the local cluster: set CAREPG_PORT to keep off
other people's clusters). Not part of `make test`.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from carepg.mrf.generate import Truth, generate, parse_size
from carepg.mrf.inflate import MAX_OUT, igzip_lib

CHUNK = 256 << 10


def timed(cmd: list[str] | str, *, stdout=subprocess.DEVNULL, shell: bool = False) -> tuple[float, float, str, float]:
    """(wall seconds, peak RSS in MB, stdout, CPU seconds) of one child process (the shell's child for `shell`)."""
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE if stdout is None else stdout, stderr=subprocess.PIPE,
                            shell=shell)
    out = proc.stdout.read().decode() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - began
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd} failed: {proc.stderr.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, out, usage.ru_utime + usage.ru_stime


def isal_alone(path: Path) -> tuple[float, int, float]:
    """Inflate with the decompressor and buffer sizes carepg uses, discarding the output."""
    began, cpu = time.perf_counter(), time.process_time()
    d = igzip_lib.IgzipDecompressor(flag=igzip_lib.DECOMP_GZIP)
    raw = 0
    with path.open("rb", buffering=0) as fh:
        while block := fh.read(CHUNK):
            data = block
            while True:
                out = d.decompress(data, MAX_OUT)
                raw += len(out)
                data = b""
                if d.eof or d.needs_input:
                    break
    return time.perf_counter() - began, raw, time.process_time() - cpu


def answer_ok(truth: Path) -> bool:
    expected = Truth.load(truth).expected("NY", "PPO", with_lookup=False)
    _, _, out, _ = timed([sys.executable, "-m", "carepg", "mrf", "files", "--state", "NY", "--plan-type", "PPO"],
                      stdout=None)
    return out.splitlines() == expected


def lookup_entries() -> int:
    from carepg import db

    with db.connect(db.resolve_url(start=True)) as conn:
        return conn.execute("SELECT count(*) FROM mrf.lookup_entry").fetchone()[0]


def last_run_raw_bytes() -> int:
    from carepg import db

    with db.connect(db.resolve_url(start=True)) as conn:
        return conn.execute("SELECT raw_bytes FROM mrf.ingest_run ORDER BY run_id DESC LIMIT 1").fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="5G", help="JSON size of the generated index (default 5G)")
    parser.add_argument("--dir", default="/tmp/carepg-mrf-bench", help="where the generated files go")
    parser.add_argument("--bulk", type=int, default=120, help="other plans' files padding each file list")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--skip-pretty", action="store_true", help="skip the ijson-path run")
    parser.add_argument("--reuse", action="store_true", help="reuse files a previous --keep run left in --dir")
    args = parser.parse_args()

    if lookup_entries():
        raise SystemExit("this database holds EIN-lookup entries, which change the answer the benchmark checks: "
                         "use a database without them (e.g. DELETE FROM mrf.lookup_entry on a scratch database)")
    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    canonical, pretty = work / "index.json.gz", work / "index-pretty.json.gz"
    size = parse_size(args.size)
    print(f"generating {size / 1e9:.1f} GB of JSON in {work} ...", file=sys.stderr)
    began = time.perf_counter()
    if not (args.reuse and canonical.exists()):
        generate(canonical, raw_bytes=size, bulk=args.bulk, seed=2026)
    if not args.skip_pretty and not (args.reuse and pretty.exists()):
        generate(pretty, raw_bytes=size, bulk=args.bulk, seed=2026, style="pretty")
    print(f"generated in {time.perf_counter() - began:.0f} s", file=sys.stderr)

    rows = []
    gz = canonical.stat().st_size
    print(f"canonical: {gz / 1e9:.2f} GB gzip; pretty: "
          f"{pretty.stat().st_size / 1e9 if pretty.exists() else 0:.2f} GB gzip", file=sys.stderr)
    print("gzip -dc ...", file=sys.stderr)
    t_gzip, rss_gzip, _, c_gzip = timed(f"gzip -dc {canonical} > /dev/null", stdout=subprocess.DEVNULL, shell=True)
    print("isal alone ...", file=sys.stderr)
    t_isal, raw, c_isal = isal_alone(canonical)
    t_isal_cli, rss_isal_cli, _, c_isal_cli = timed([sys.executable, "-m", "isal.igzip", "-d", "-c", str(canonical)])
    print("carepg mrf ingest (line path) ...", file=sys.stderr)
    t_line, rss_line, out_line, c_line = timed(
        [sys.executable, "-m", "carepg", "mrf", "ingest", "--quiet", str(canonical)], stdout=None)
    ok_line = answer_ok(work / "index.truth.json")
    rows.append(("`gzip -dc FILE > /dev/null`", t_gzip, c_gzip, rss_gzip, raw, ""))
    rows.append(("isal inflate alone, in-process (carepg's decompressor and buffers)", t_isal, c_isal, None, raw, ""))
    rows.append(("`python -m isal.igzip -d -c FILE > /dev/null`", t_isal_cli, c_isal_cli, rss_isal_cli, raw, ""))
    rows.append(("**`carepg mrf ingest --quiet FILE`** (line path)", t_line, c_line, rss_line, raw,
                 "answer = ground truth" if ok_line else "ANSWER DIFFERS"))
    if not args.skip_pretty:
        print("carepg mrf ingest (pretty-printed: ijson path) ...", file=sys.stderr)
        t_pretty, rss_pretty, out_pretty, c_pretty = timed(
            [sys.executable, "-m", "carepg", "mrf", "ingest", "--quiet", str(pretty)], stdout=None)
        ok_pretty = answer_ok(work / "index-pretty.truth.json")
        praw = last_run_raw_bytes()
        rows.append(("`carepg mrf ingest --quiet PRETTY` (same content pretty-printed: ijson path)", t_pretty,
                     c_pretty, rss_pretty, praw, "answer = ground truth" if ok_pretty else "ANSWER DIFFERS"))

    floor = min(t_isal, t_isal_cli)
    print(f"\nMachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.2f} at the end, Python "
          f"{platform.python_version()}; generated index {raw / 1e9:.2f} GB JSON, {gz / 1e9:.2f} GB gzip.\n\n"
          f"carepg's summary line: `{out_line.strip()}`\n")
    print("| run | wall s | JSON MB/s (wall) | wall vs isal alone | client CPU s | peak RSS MB | check |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, seconds, cpu, rss, raw_bytes, note in rows:
        rate = f"{raw_bytes / seconds / 1e6:.0f}"
        print(f"| {name} | {seconds:.1f} | {rate} | {seconds / floor:.2f}x | {cpu:.1f} | "
              f"{'' if rss is None else f'{rss:.0f}'} | {note} |")
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
