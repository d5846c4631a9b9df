"""CLI start-up: `carepg shifts W --limit 5` beside psql calling the same function, as whole processes.

    make bench-cli
    .venv/bin/python bench/cli_bench.py --rounds 41 --worker 101

Runs, in turn and never in parallel, for --rounds rounds after --warmup unmeasured ones:
`carepg shifts W --limit 5` (the installed `carepg` script, interpreter start-up, connection and all) and
`psql -X -Atc "SELECT * FROM shifts.available_shifts(W, max_rows => 5)" URL` (the same function, what a shell
user would type instead); then `carepg --help` (the Typer app built, nothing connected) and `python -c pass`
(the interpreter alone) for scale. Each run's wall time, and its CPU time from the kernel's accounting
(os.wait4); the ratios carepg / psql are taken round by round and their median reported, so a machine that
drifts moves both sides. Then the modules `carepg shifts` imports and what they cost (`-X importtime`, the
smallest of 9 runs each). Prints Markdown for PERFORMANCE.md.

The database is the one `carepg` resolves (DATABASE_URL, else the local cluster: set CAREPG_PORT and CAREPG_HOME
to keep off other people's clusters), with challenge data (`carepg seed`); W defaults to the first
deterministic worker. Byte code is compiled first: where PYTHONDONTWRITEBYTECODE is set, an edited module
would otherwise be compiled again by every run. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CAREPG = str(Path(sys.executable).with_name("carepg"))


def run_timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one process, its output read (as a pipe would) and dropped; the child is reaped
    with wait4, so the CPU time is its own."""
    began = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.read()  # what a pipe would be given, dropped
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - began
    if proc.returncode != 0:
        raise SystemExit(f"{argv} failed ({proc.returncode}): {err.decode()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def median_spread(values: list[float], scale: float = 1000, digits: int = 1) -> str:
    return (f"{statistics.median(values) * scale:.{digits}f} "
            f"({min(values) * scale:.{digits}f}-{max(values) * scale:.{digits}f})")  # fmt: skip


def import_costs(argv: list[str], env: dict[str, str], runs: int = 9) -> tuple[float, list[tuple[str, float]]]:
    """The smallest self time of each module over `runs` runs of `python -X importtime`, in ms."""
    best: dict[str, int] = {}
    for _ in range(runs):
        err = subprocess.run([sys.executable, "-X", "importtime", *argv], env=env, capture_output=True,
                             text=True).stderr  # fmt: skip
        for line in err.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            self_us, _, name = (part.strip() for part in line[len("import time:"):].split("|"))
            best[name] = min(best.get(name, 10**12), int(self_us))
    ranked = sorted(best.items(), key=lambda kv: -kv[1])
    return sum(best.values()) / 1000, [(name, us / 1000) for name, us in ranked]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--worker", type=int, default=None, help="worker id (default: the first deterministic one)")
    parser.add_argument("--psql", default=shutil.which("psql") or "psql")
    options = parser.parse_args()

    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "cli" / "carepg")], check=True)
    from carepg import db  # noqa: E402  (after compiling)

    url = db.resolve_url(start=True)
    env = {**os.environ, "DATABASE_URL": url}
    worker = options.worker
    if worker is None:
        found = subprocess.run([options.psql, "-X", "-Atc", "SELECT min(id) FROM \"Worker\" WHERE name LIKE "
                                "'Deterministic%'", url], capture_output=True, text=True, check=True).stdout.strip()
        if not found:
            raise SystemExit("no deterministic worker: seed the database first (`carepg seed` or `make demo`)")
        worker = int(found)
    carepg = [CAREPG, "shifts", str(worker), "--limit", "5"]
    psql = [options.psql, "-X", "-Atc", f"SELECT * FROM shifts.available_shifts({worker}, max_rows => 5)", url]
    others = {"carepg --help": [CAREPG, "--help"], "python -c pass": [sys.executable, "-c", "pass"]}

    load_before = os.getloadavg()[0]
    samples: dict[str, list[tuple[float, float]]] = {"carepg": [], "psql": [], **{k: [] for k in others}}
    for n in range(options.warmup + options.rounds):
        results = {"carepg": run_timed(carepg, env), "psql": run_timed(psql, env)}
        results.update({name: run_timed(argv, env) for name, argv in others.items()})
        if n >= options.warmup:
            for name, result in results.items():
                samples[name].append(result)
    load_after = os.getloadavg()[0]

    def column(name: str, index: int) -> list[float]:
        return [s[index] for s in samples[name]]

    wall_ratio = [c / p for c, p in zip(column("carepg", 0), column("psql", 0))]
    cpu_ratio = [c / p for c, p in zip(column("carepg", 1), column("psql", 1))]
    total, modules = import_costs([CAREPG, *carepg[1:]], env)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()  # fmt: skip

    print("# `carepg shifts` beside psql\n")
    print(f"Command: `.venv/bin/python bench/cli_bench.py --rounds {options.rounds} --warmup {options.warmup}` at "
          f"commit {commit or '?'}; worker {worker}.\n")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; load average {load_before:.2f} before, {load_after:.2f} after; "
          f"{options.rounds} rounds.\n")
    print("| run | wall ms, median (min-max) | CPU ms, median (min-max) |")
    print("|---|---:|---:|")
    labels = {"carepg": f"**`carepg shifts {worker} --limit 5`**",
              "psql": f"`psql -X -Atc \"SELECT * FROM shifts.available_shifts({worker}, max_rows => 5)\"`",
              "carepg --help": "`carepg --help`", "python -c pass": "`python -c pass` (the interpreter alone)"}
    for name, label in labels.items():
        print(f"| {label} | {median_spread(column(name, 0))} | {median_spread(column(name, 1))} |")
    print(f"\n**carepg / psql, median of rounds: {statistics.median(wall_ratio):.2f}x wall** "
          f"({min(wall_ratio):.2f}-{max(wall_ratio):.2f}), {statistics.median(cpu_ratio):.2f}x CPU "
          f"({min(cpu_ratio):.2f}-{max(cpu_ratio):.2f}).\n")
    print(f"What `carepg shifts` imports: {len(modules)} modules, {total:.1f} ms of import time (each module's "
          f"smallest self time over 9 runs of `python -X importtime`); the largest:\n")
    print(", ".join(f"{name} {ms:.2f}" for name, ms in modules[:12]) + " (ms)")


if __name__ == "__main__":
    main()
