"""Price-transparency ingest benchmark: `carepg mrf ingest` vs isal alone vs `gzip -dc`, side by side.

    make bench-mrf                                   # = --size 1G,5G: both goals in one run
    .venv/bin/python bench/mrf_bench.py --size 1G --rounds 5
    .venv/bin/python bench/mrf_bench.py --size 1G --bulk 120 --reuse --keep   # ~48 KB lines, like Anthem's

Generates one Anthem-shaped index per size (canonical layout, .json.gz; --bulk other plans' files pad every
file list: 40, the default of `carepg mrf generate`, gives ~18 KB lines and ~71k plans per GB; 120 gives ~48 KB
lines and ~27k plans per GB, about what Anthem's real index has), then runs, in turn and never in parallel, for
--rounds rounds: isal decompression alone (`python -c`, isal's gzip reader, 1 MiB reads, output discarded),
`carepg mrf ingest --quiet FILE`, and `gzip -dc FILE > /dev/null`. Every figure is a whole process,
interpreter start-up included. The ratios are taken round by round (each ingest against the isal and gzip
runs next to it) and their median is reported, so a machine that drifts during the call moves both sides.
Peak RSS is each Python process's own high-water mark (VmHWM). The answer of the last ingest of each index is
checked against the generator's ground truth; with --pretty the same content pretty-printed is ingested too
(the general parser). Ends with the goals (ingest / isal alone: <= 1.3x at 1 GB, <= 1.1x at 5 GB; peak RSS
<= 100 MB) and a projection for Anthem's ~27 GB index through the sizes measured. Prints Markdown for
PERFORMANCE.md. Two diagnostics instead of that: --parser-alone (the parser's CPU time over the index held in
memory) and --threads (in-process ingests: each thread's CPU time, how long the inflating thread waited, and the
loading session's server process's CPU time).

The database is the one `carepg` resolves (DATABASE_URL, else the local cluster: set CAREPG_PORT and
CAREPG_HOME to keep off other people's clusters), handed to the children as DATABASE_URL. Not part of
`make test`.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from carepg.mrf.generate import Truth, generate, parse_size

ISAL_ALONE = """
import sys
from isal import igzip
with igzip.open(sys.argv[1], "rb") as f:
    while f.read(1 << 20):
        pass
"""

# Runs a Python program (`-m module args` or `-c code args`) and writes its own peak RSS where asked.
PEAK = """
import atexit, os, runpy, sys
def peak():
    with open(os.environ["BENCH_PEAK_FILE"], "w") as out:
        out.write([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1])
atexit.register(peak)
kind, target, *sys.argv[1:] = sys.argv[1:]
if kind == "-c":
    sys.argv[0] = "-c"
    exec(compile(target, "<bench>", "exec"), {"__name__": "__main__"})
else:
    sys.argv[0] = target
    runpy.run_module(target, run_name="__main__", alter_sys=True)
"""


def run(cmd: list[str], *, python: bool, stdout=subprocess.DEVNULL) -> dict:
    """Wall and CPU seconds and peak RSS (MB) of one process; its stdout if asked for."""
    with tempfile.NamedTemporaryFile("r", suffix=".peak") as peak_file:
        env = {**os.environ, "BENCH_PEAK_FILE": peak_file.name}
        argv = [sys.executable, "-c", PEAK, *cmd] if python else cmd
        began = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE, env=env)
        out = proc.stdout.read().decode() if stdout is subprocess.PIPE else ""
        err = proc.stderr.read().decode()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - began
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{argv} failed: {err[-2000:]}")
        peak_text = peak_file.read().strip()
    # Only a Python child reports its own peak: a child's getrusage peak also counts the memory of the
    # process it was forked from (this one) before exec.
    peak = int(peak_text) / 1024 if python and peak_text else None
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak": peak, "out": out}


def ingest_cmd(path: Path) -> list[str]:
    return ["-m", "carepg", "mrf", "ingest", "--quiet", str(path)]


def answer_ok(truth: Path) -> bool:
    expected = Truth.load(truth).expected("NY", "PPO", with_lookup=False)
    out = subprocess.run([sys.executable, "-m", "carepg", "mrf", "files", "--state", "NY", "--plan-type", "PPO"],
                         capture_output=True, text=True, check=True).stdout
    return out.splitlines() == expected


def lookup_entries() -> int:
    from carepg import db

    with db.connect(db.resolve_url(start=True)) as conn:
        return conn.execute("SELECT count(*) FROM mrf_private.lookup_entry").fetchone()[0]


def last_run_raw_bytes() -> int:
    from carepg import db

    with db.connect(db.resolve_url(start=True)) as conn:
        return conn.execute("SELECT raw_bytes FROM mrf_private.ingest_run ORDER BY run_id DESC LIMIT 1").fetchone()[0]


def median(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


def parser_alone(path: Path, rounds: int) -> None:
    """The parser by itself: the index decompressed into memory first, 2 MiB chunks, no database."""
    try:
        from carepg.mrf.collector import Collector
        from carepg.mrf.parse import Parser
    except ImportError:  # the code before the parser had its own module (PYTHONPATH at an older commit)
        from carepg.mrf.toc import Collector, Parser
    from isal import igzip

    data = igzip.decompress(path.read_bytes())
    chunks = [data[i : i + (2 << 20)] for i in range(0, len(data), 2 << 20)]
    del data
    seconds = []
    for _ in range(rounds):
        structures: list = []
        parser = Parser(Collector(plan_sink=structures.append))
        began = time.process_time()
        parser.run(iter(chunks))
        seconds.append(time.process_time() - began)
    rows = sum(len(keys) for _, keys, _ in structures)
    print(f"parser alone over {path.name}: {median(seconds):.3f} s CPU, median of {rounds} "
          f"({spread(seconds)}); {rows:,} plan rows")


def threads(path: Path, rounds: int) -> None:
    """In-process ingests with each thread's CPU time: how long the inflating thread waited (wall - CPU), and the
    CPU time of the loading session's server process (read from /proc: a server on this machine)."""
    import os

    from carepg import db
    from carepg.mrf import inflate, ingest

    times: dict = {}
    run_thread = inflate.Inflater._run
    close_sessions = ingest._Sessions._close

    def timed_run(self, q):
        cpu, wall = time.thread_time(), time.perf_counter()
        try:
            run_thread(self, q)
        finally:
            times["cpu"], times["wall"] = time.thread_time() - cpu, time.perf_counter() - wall

    def close_timed(self):
        times["backend"] = float("nan")
        if self.loading is not None:
            try:
                stat = Path(f"/proc/{self.loading.backend_pid}/stat").read_text().rsplit(")", 1)[1].split()
                times["backend"] = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
            except (OSError, AttributeError):
                pass  # a remote server, or a client without the attribute
        close_sessions(self)

    inflate.Inflater._run = timed_run
    ingest._Sessions._close = close_timed
    url = db.resolve_url(start=True)
    ingest.ingest(url, str(path))  # warm-up
    rows = []
    for _ in range(rounds):
        main_cpu, wall = time.thread_time(), time.perf_counter()
        summary = ingest.ingest(url, str(path))
        rows.append((time.perf_counter() - wall, time.thread_time() - main_cpu, times["cpu"],
                     times["wall"] - times["cpu"], summary.publish_seconds, times["backend"]))
    med = [median([r[i] for r in rows]) for i in range(6)]
    print(f"in-process ingest of {path.name}, medians of {rounds}: "
          f"{med[0]:.3f} s wall; main thread {med[1]:.3f} s CPU; inflating thread {med[2]:.3f} s CPU and "
          f"{med[3]:.3f} s waiting (its wall minus its CPU: the GIL, or no core); publishing {med[4]:.3f} s; "
          f"the loading session's server process {med[5]:.3f} s CPU")


GOALS = {1: 1.3, 5: 1.1}  # ingest / isal alone, by GB of JSON (PERFORMANCE.md, Targets); the moonshot is 1.05x
RSS_GOAL_MB = 100
ANTHEM_GB = 27  # Anthem's real index: ~27 GB of JSON, ~11 GB gzip (README)


def run_ingest(path: Path) -> dict:
    """One counted ingest: the process's figures, and where its time went (the run's own timestamps)."""
    began = time.time()
    result = run(ingest_cmd(path), python=True, stdout=subprocess.PIPE)
    ended = time.time()
    recorded, published = last_run_times()
    result["raw"] = last_run_raw_bytes()
    found = re.search(r"publishing ([0-9.]+) s", result["out"])
    publish = float(found.group(1)) if found else float("nan")
    # Same host, same clock: the run's timestamps split the process's wall time.
    result["split"] = (recorded - began, published - recorded - publish, publish, ended - published)
    return result


def last_run_times() -> tuple[float, float]:
    """(started_at, finished_at) of the last run, as Unix times: when it was recorded and when it was published."""
    from carepg import db

    with db.connect(db.resolve_url(start=True)) as conn:
        row = conn.execute("SELECT extract(epoch FROM started_at), extract(epoch FROM finished_at)"
                           " FROM mrf_private.ingest_run ORDER BY run_id DESC LIMIT 1").fetchone()
    return float(row[0]), float(row[1])


def measure(canonical: Path, rounds: int) -> dict[str, list[dict]]:
    """`rounds` rounds of (isal alone, ingest, gzip -dc), one process at a time."""
    commands = {
        "isal": lambda: run(["-c", ISAL_ALONE, str(canonical)], python=True),
        "ingest": lambda: run_ingest(canonical),
        "gzip": lambda: run(["sh", "-c", f'exec gzip -dc "{canonical}" > /dev/null'], python=False),
    }
    print(f"warm-up ingest of {canonical.name} (not counted; every counted one replaces a previous run) ...",
          file=sys.stderr)
    run(ingest_cmd(canonical), python=True, stdout=subprocess.PIPE)
    results: dict[str, list[dict]] = {name: [] for name in commands}
    for r in range(rounds):
        for name, command in commands.items():
            print(f"{canonical.name}, round {r + 1}/{rounds}: {name} ...", file=sys.stderr)
            results[name].append(command())
    return results


def report(canonical: Path, results: dict[str, list[dict]], ok: bool, raw: int, bulk: int, rounds: int) -> dict:
    """Print one index's table; return its medians for the goals and the projection."""
    summary = results["ingest"][-1]["out"].strip()
    per_round = {
        "isal": [i["wall"] / s["wall"] for i, s in zip(results["ingest"], results["isal"])],
        "gzip": [i["wall"] / g["wall"] for i, g in zip(results["ingest"], results["gzip"])],
    }
    print(f"\n### {raw / 1e9:.2f} GB of JSON, {canonical.stat().st_size / 1e9:.2f} GB gzip (--bulk {bulk}); "
          f"{rounds} rounds\n")
    print(f"carepg's summary line (last round): `{summary}`\n")
    print("| run | wall s, median (min-max) | JSON MB/s | ingest / this, median of rounds | CPU s | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|")
    labels = {
        "isal": "isal alone: `python -c` isal's gzip reader, 1 MiB reads",
        "ingest": "**`carepg mrf ingest --quiet FILE`**" + (" (answer = ground truth)" if ok else " (ANSWER DIFFERS)"),
        "gzip": "`gzip -dc FILE > /dev/null`",
    }
    for name in ("ingest", "isal", "gzip"):
        rows = results[name]
        walls = [x["wall"] for x in rows]
        ratio = "" if name == "ingest" else f"{median(per_round[name]):.2f}x ({spread(per_round[name])})"
        print(f"| {labels[name]} | {median(walls):.2f} ({spread(walls)}) | {raw / median(walls) / 1e6:.0f} | "
              f"{ratio} | {median([x['cpu'] for x in rows]):.2f} | "
              f"{'' if rows[0]['peak'] is None else format(max(x['peak'] for x in rows), '.0f')} |")
    split = [median([x["split"][i] for x in results["ingest"]]) for i in range(4)]
    print(f"\nWhere the ingest's time goes (medians over the rounds, from the run's own timestamps): process start "
          f"until the run is recorded {split[0]:.2f} s (the source is already inflating and parsing meanwhile); "
          f"then reading, inflating and parsing {split[1]:.2f} s; publishing (COPY drained, `mrf.finish_ingest`, "
          f"commit) {split[2]:.2f} s; exit {split[3]:.2f} s.")
    return {
        "gb": round(raw / 1e9, 2),
        "ratio": median(per_round["isal"]),
        "ingest": median([x["wall"] for x in results["ingest"]]),
        "isal": median([x["wall"] for x in results["isal"]]),
        "peak": max(x["peak"] for x in results["ingest"]),
        "ok": ok,
    }


def goals_and_projection(measured: list[dict]) -> None:
    print("\n### Goals\n")
    print("| index | ingest / isal alone (median of rounds) | goal | peak RSS | answer |")
    print("|---|---:|---:|---:|---|")
    for m in measured:
        goal = GOALS.get(m["gb"])
        verdict = "" if goal is None else f"≤ {goal}x: **{'met' if m['ratio'] <= goal else 'missed'}**"
        print(f"| {m['gb']:g} GB | {m['ratio']:.2f}x | {verdict} | {m['peak']:.0f} MB "
              f"(≤ {RSS_GOAL_MB}: {'met' if m['peak'] <= RSS_GOAL_MB else 'missed'}) | "
              f"{'= ground truth' if m['ok'] else 'DIFFERS'} |")
    # A fixed cost and a cost per GB, through the smallest and the largest index measured (per GB only, from one).
    small, large = measured[0], measured[-1]

    def at(gb: float, key: str) -> float:
        if large["gb"] - small["gb"] < 0.5:
            return large[key] / large["gb"] * gb
        per_gb = (large[key] - small[key]) / (large["gb"] - small["gb"])
        return large[key] + per_gb * (gb - large["gb"])

    ingest, isal = at(ANTHEM_GB, "ingest"), at(ANTHEM_GB, "isal")
    basis = (f"the line through the {small['gb']:g} and {large['gb']:g} GB medians"
             if large["gb"] - small["gb"] >= 0.5 else f"the {large['gb']:g} GB rate")
    print(f"\nProjection for Anthem's real index (~{ANTHEM_GB} GB of JSON, ~11 GB gzip) from a local file, along "
          f"{basis}: ingest ~{ingest:.0f} s, isal alone ~{isal:.0f} s, **{ingest / isal:.2f}x**. Streamed from its "
          f"URL instead, the download sets the pace unless the link is faster than the ingest's "
          f"~{11e9 * 8 / ingest / 1e9:.1f} Gbit/s of gzip.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1G,5G",
                        help="JSON size of each generated index, comma-separated (default 1G,5G: the goals' sizes)")
    parser.add_argument("--bulk", type=int, default=40,
                        help="other plans' files padding each file list (default 40, as `carepg mrf generate`)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of (isal, ingest, gzip -dc); default 3")
    parser.add_argument("--dir", default="/tmp/carepg-mrf-bench", help="where the generated files go")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--reuse", action="store_true", help="reuse files a previous --keep run left in --dir")
    parser.add_argument("--pretty", action="store_true", help="also ingest the content pretty-printed (slow)")
    parser.add_argument("--parser-alone", action="store_true",
                        help="instead: time the parser alone over the index held in memory (no database)")
    parser.add_argument("--threads", action="store_true",
                        help="instead: in-process ingests with each thread's CPU time and the inflater's waits")
    args = parser.parse_args()

    if lookup_entries():
        raise SystemExit("this database holds EIN-lookup entries, which change the answer the benchmark checks: "
                         "use a database without them (e.g. DELETE FROM mrf_private.lookup_entry on a scratch database)")
    sizes = [s.strip() for s in args.size.split(",") if s.strip()]
    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    indexes = []
    for size in sizes:
        stem = f"index-{size}-bulk{args.bulk}"
        canonical, pretty = work / f"{stem}.json.gz", work / f"{stem}-pretty.json.gz"
        if not (args.reuse and canonical.exists()):
            print(f"generating {parse_size(size) / 1e9:.1f} GB of JSON in {work} ...", file=sys.stderr)
            generate(canonical, raw_bytes=parse_size(size), bulk=args.bulk, seed=2026)
        if args.pretty and not (args.reuse and pretty.exists()):
            generate(pretty, raw_bytes=parse_size(size), bulk=args.bulk, seed=2026, style="pretty")
        indexes.append((stem, canonical, pretty))
    if args.parser_alone or args.threads:
        for _, canonical, _ in indexes:
            (parser_alone if args.parser_alone else threads)(canonical, args.rounds)
        if not args.keep:
            shutil.rmtree(work)
        return

    # The children connect straight to the server carepg resolved, as an application with DATABASE_URL does
    # (without it, each `carepg` run first checks that its local cluster is up: ~0.08 s).
    from carepg import db

    os.environ["DATABASE_URL"] = db.resolve_url(start=True)
    load_before = os.getloadavg()[0]
    runs = []
    for stem, canonical, pretty in indexes:
        results = measure(canonical, args.rounds)
        ok = answer_ok(work / f"{stem}.truth.json")
        pretty_result = None
        if args.pretty:
            print("pretty-printed (general parser) ...", file=sys.stderr)
            pretty_result = run(ingest_cmd(pretty), python=True, stdout=subprocess.PIPE)
            pretty_result["ok"] = answer_ok(work / f"{stem}-pretty.truth.json")
            pretty_result["raw"] = last_run_raw_bytes()
        runs.append((canonical, results, ok, pretty_result))
    load_after = os.getloadavg()[0]

    print(f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; load average {load_before:.2f} before, {load_after:.2f} after.")
    measured = []
    for canonical, results, ok, pretty_result in runs:
        raw = results["ingest"][-1]["raw"]
        measured.append(report(canonical, results, ok, raw, args.bulk, args.rounds))
        if pretty_result is not None:
            print(f"\nThe same content pretty-printed (general parser): {pretty_result['wall']:.2f} s, "
                  f"{pretty_result['raw'] / pretty_result['wall'] / 1e6:.0f} MB/s of JSON, {pretty_result['cpu']:.2f} s "
                  f"CPU, peak RSS {pretty_result['peak']:.0f} MB, answer "
                  f"{'= ground truth' if pretty_result['ok'] else 'DIFFERS'}.")
    goals_and_projection(sorted(measured, key=lambda m: m["gb"]))
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
