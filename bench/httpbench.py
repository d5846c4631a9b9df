"""HTTP throughput of `carepg serve` beside the yardsticks (bench/yardstick.py, bench/yardstick_asgi.py), in one
run, as ratios.

Three servers run at once on loopback (granian, the same workers and threads, the same role, the same database):
carepg (its ASGI front, the WSGI app on its loop for reads), the WSGI yardstick (granian's WSGI interface) and the ASGI
yardstick (granian's ASGI interface, psycopg's async connections): the first ratio is what carepg costs against
the least any app can do, the second against the least an app can do on the interface carepg serves (it must,
to hold thousands of event streams). wrk loads one at a time, alternating carepg, yardstick, ASGI yardstick,
carepg, ... so that whatever else the machine does hits all alike. The report gives every run, the medians, and
the ratios of the medians. Then one run each
of the mixed ids (bench/wrk-mixed.lua) and /healthz for carepg. Statuses of carepg's answers are counted from
its access log (wrk counts only non-2xx).

carepg verifies a bearer token on every worker route: the run makes a secret (CAREPG_JWT_SECRET) and mints, at
the start, worker 101's own token for the full pages and a staff token for the mixed ids (it may act for any of
them). Every request to any server carries the same Authorization header; the yardsticks ignore it.

    bench/httpbench.py [--seconds 15] [--runs 5] [--workers 2] [--threads 4]   -> bench/results/http.md

Needs Debian's wrk (`apt-get install wrk`) and the challenge data (seeded on first use, as bench.py does).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
REPORT = ROOT / "bench" / "results" / "http.md"
PAGE = "/workers/101/shifts?limit=50"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen) -> None:
    for _ in range(300):
        if process.poll() is not None:
            sys.exit(f"server exited with {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"no answer from {url}")


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, seconds: int, *extra: str, token: str | None = None) -> dict:
    header = ["-H", f"Authorization: Bearer {token}"] if token else []
    out = subprocess.run(["wrk", "-t2", "-c64", f"-d{seconds}s", "--latency", *header, *extra, url],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip

    def latency(pct: str) -> float:
        value, unit = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * _UNIT_MS[unit]

    errors = re.search(r"Socket errors: (.*)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": latency("50"),
        "p90": latency("90"),
        "p99": latency("99"),
        "socket_errors": errors.group(1).strip() if errors else None,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
    }


def access_statuses(log: Path, since: int) -> tuple[collections.Counter, int]:
    lines = log.read_text(errors="replace").splitlines()
    counts: collections.Counter = collections.Counter()
    for line in lines[since:]:
        try:
            entry = json.loads(line)
        except ValueError:
            counts["unparsable log line"] += 1
            continue
        if entry.get("event") == "access":
            counts[entry["status"]] += 1
    return counts, len(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--carepg-src", type=Path,
                        help="serve carepg from another checkout of it (e.g. a `git worktree` of an older "
                             "commit), to measure a before and an after the same way")  # fmt: skip
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk (Debian's wrk 4.x)")

    sys.path.insert(0, str(ROOT / "bench"))
    import bench  # noqa: E402  (bench/bench.py: seeds the challenge profile once)
    from carepg import auth, db, migrations
    from carepg.web.server import API_ROLE, api_database_url

    secret = secrets.token_hex(32)
    key = auth.KeyConfig(secret.encode(), "HS256", auth.SECRET_ENV)
    ttl = 3600 + args.runs * args.seconds * 4
    page_token = auth.mint(key, worker_id=101, staff=False, ttl_seconds=ttl)  # what worker 101's phone sends
    staff_token = auth.mint(key, worker_id=None, staff=True, ttl_seconds=ttl)  # the mixed ids: any worker

    url = db.resolve_url(start=True)
    migrations.upgrade(url)
    bench.ensure_seeded(url, "challenge", 2_000_000, 20230201)
    api_url = api_database_url(API_ROLE)
    with __import__("psycopg").connect(url) as conn:
        server_version = conn.execute("SHOW server_version").fetchone()[0].split()[0]

    tmp = Path(tempfile.mkdtemp(prefix="carepg-http-"))
    carepg_port, yard_port, asgi_port = free_port(), free_port(), free_port()
    log = tmp / "carepg-serve.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", auth.SECRET_ENV: secret}
    servers = []
    try:
        serve = [str(BIN / "carepg"), "serve"]
        serve_env = env
        if args.carepg_src:
            serve = [sys.executable, "-m", "carepg", "serve"]
            serve_env = {**env, "PYTHONPATH": str(args.carepg_src.resolve() / "cli")}
        with open(log, "wb") as err:
            servers.append(subprocess.Popen(
                [*serve, "--port", str(carepg_port), "--workers", str(args.workers), "--threads", str(args.threads)],
                stdout=subprocess.DEVNULL, stderr=err, env=serve_env))  # fmt: skip
        servers.append(subprocess.Popen(
            [str(BIN / "python"), str(ROOT / "bench" / "yardstick.py"), str(yard_port), str(args.workers),
             str(args.threads)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**env, "CAREPG_WEB_DATABASE_URL": api_url, "PYTHONPATH": str(ROOT / "bench")}))  # fmt: skip
        servers.append(subprocess.Popen(
            [str(BIN / "python"), str(ROOT / "bench" / "yardstick_asgi.py"), str(asgi_port), str(args.workers),
             str(args.threads)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**env, "CAREPG_WEB_DATABASE_URL": api_url, "PYTHONPATH": str(ROOT / "bench")}))  # fmt: skip
        carepg = f"http://127.0.0.1:{carepg_port}"
        yard = f"http://127.0.0.1:{yard_port}"
        asgi = f"http://127.0.0.1:{asgi_port}"
        wait_ready(carepg + "/healthz", servers[0])
        wait_ready(yard + PAGE, servers[1])
        wait_ready(asgi + PAGE, servers[2])
        signed = {"Authorization": f"Bearer {page_token}"}
        with urllib.request.urlopen(urllib.request.Request(carepg + PAGE, headers=signed)) as a, \
                urllib.request.urlopen(urllib.request.Request(yard + PAGE, headers=signed)) as b:
            page_a, page_b = json.loads(a.read()), json.loads(b.read())
        same = [s["id"] for s in page_a["shifts"]] == [s["id"] for s in page_b["shifts"]]
        assert same and len(page_a["shifts"]) == 50, "carepg and the yardstick disagree on the page"
        load_at_start = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        for target in (carepg, yard, asgi):  # warm all: connections, prepared statements, caches
            wrk(target + PAGE, 3, token=page_token)
        runs: dict[str, list[dict]] = {"carepg": [], "yardstick": [], "asgi": []}
        _, mark = access_statuses(log, 0)
        for i in range(args.runs):
            for name, target in (("carepg", carepg), ("yardstick", yard), ("asgi", asgi)):
                result = wrk(target + PAGE, args.seconds, token=page_token)
                runs[name].append(result)
                print(f"run {i + 1}/{args.runs} {name:9} {result['rps']:8.0f} req/s  p50 {result['p50']:.2f} ms"
                      f"  p99 {result['p99']:.2f} ms", flush=True)  # fmt: skip
        time.sleep(1)
        page_statuses, mark = access_statuses(log, mark)
        mixed = wrk(carepg, args.seconds, "-s", str(ROOT / "bench" / "wrk-mixed.lua"), token=staff_token)
        time.sleep(1)
        mixed_statuses, mark = access_statuses(log, mark)
        health = wrk(carepg + "/healthz", args.seconds)
        time.sleep(1)
        health_statuses, mark = access_statuses(log, mark)
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
    bug_lines = [line for line in log.read_text(errors="replace").splitlines() if '"traceback"' in line]
    shutil.rmtree(tmp, ignore_errors=True)

    med = {name: {k: statistics.median(r[k] for r in rs) for k in ("rps", "p50", "p90", "p99")}
           for name, rs in runs.items()}  # fmt: skip
    ratio = med["carepg"]["rps"] / med["yardstick"]["rps"]
    p99_ratio = med["carepg"]["p99"] / med["yardstick"]["p99"]
    asgi_ratio = med["carepg"]["rps"] / med["asgi"]["rps"]
    asgi_p99_ratio = med["carepg"]["p99"] / med["asgi"]["p99"]

    def statuses(counter: collections.Counter) -> str:
        return ", ".join(f"{k} x{v}" for k, v in sorted(counter.items(), key=str)) or "none logged"

    def errs(rs: list[dict]) -> str:
        socket_errors = [r["socket_errors"] for r in rs if r["socket_errors"]]
        return "; ".join(socket_errors) if socket_errors else "none"

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()  # fmt: skip
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                           text=True, cwd=ROOT).stdout.strip()  # fmt: skip
    cmd = " ".join(["bench/httpbench.py", *sys.argv[1:]])
    lines = [
        "# carepg HTTP benchmark: `carepg serve` beside the yardsticks",
        "",
        f"Generated by `{cmd}` on {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC} at commit "
        f"`{commit}`{' (with uncommitted changes)' if dirty else ''}.",
        f"All three: granian, {args.workers} workers, {args.threads} threads or connections each, as `carepg_api`; "
        f"carepg (ASGI front, reads answered on its loop, writes in its threads) with its access log on (to a file) and a bearer token "
        f"verified on every page (worker 101's own; a staff token for the mixed ids); the yardstick on granian's "
        f"WSGI interface, the ASGI yardstick on its ASGI interface. Client: `wrk -t2 -c64 -d{args.seconds}s "
        f"--latency` on loopback, runs alternating. {os.cpu_count()} cores shared by wrk, the servers and "
        f"PostgreSQL {server_version}; load average at start {load_at_start}.",
        "",
        f"**Full 50-row pages of worker 101: carepg {med['carepg']['rps']:,.0f} req/s, yardstick "
        f"{med['yardstick']['rps']:,.0f} req/s: {ratio:.2f}x** (medians of {args.runs} runs each); "
        f"p50 {med['carepg']['p50']:.2f} / {med['yardstick']['p50']:.2f} ms, "
        f"p99 {med['carepg']['p99']:.2f} / {med['yardstick']['p99']:.2f} ms ({p99_ratio:.2f}x the yardstick's). "
        f"**Against the ASGI yardstick ({med['asgi']['rps']:,.0f} req/s, p99 {med['asgi']['p99']:.2f} ms): "
        f"{asgi_ratio:.2f}x**, p99 {asgi_p99_ratio:.2f}x.",
        "",
        "| run | carepg req/s | p50 | p99 | yardstick req/s | p50 | p99 | ratio | ASGI yardstick req/s | p99 | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i, (a, b, c) in enumerate(zip(runs["carepg"], runs["yardstick"], runs["asgi"]), 1):
        lines.append(f"| {i} | {a['rps']:,.0f} | {a['p50']:.2f} ms | {a['p99']:.2f} ms | {b['rps']:,.0f} | "
                     f"{b['p50']:.2f} ms | {b['p99']:.2f} ms | {a['rps'] / b['rps']:.2f} | {c['rps']:,.0f} | "
                     f"{c['p99']:.2f} ms | {a['rps'] / c['rps']:.2f} |")  # fmt: skip
    a, b, c = med["carepg"], med["yardstick"], med["asgi"]
    lines += [
        f"| **median** | **{a['rps']:,.0f}** | {a['p50']:.2f} ms | {a['p99']:.2f} ms | **{b['rps']:,.0f}** | "
        f"{b['p50']:.2f} ms | {b['p99']:.2f} ms | **{ratio:.2f}** | **{c['rps']:,.0f}** | {c['p99']:.2f} ms | "
        f"**{asgi_ratio:.2f}** |",
        "",
        f"carepg's answers to the full pages (access log): {statuses(page_statuses)}; wrk socket errors: carepg "
        f"{errs(runs['carepg'])}, yardstick {errs(runs['yardstick'])}, ASGI yardstick {errs(runs['asgi'])}; "
        f"non-2xx: carepg {sum(r['non2xx'] for r in runs['carepg'])}, yardstick "
        f"{sum(r['non2xx'] for r in runs['yardstick'])}, ASGI yardstick {sum(r['non2xx'] for r in runs['asgi'])}.",
        "",
        "carepg alone, one run each:",
        "",
        "| request mix | req/s | p50 | p90 | p99 | statuses (access log) | wrk socket errors |",
        "|---|---:|---:|---:|---:|---|---|",
        f"| mixed: 40% workers 101-103 (full pages), 40% workers 1-100, 20% unknown ids (`bench/wrk-mixed.lua`) | "
        f"{mixed['rps']:,.0f} | {mixed['p50']:.2f} ms | {mixed['p90']:.2f} ms | {mixed['p99']:.2f} ms | "
        f"{statuses(mixed_statuses)} | {mixed['socket_errors'] or 'none'} |",
        f"| `/healthz` (one query) | {health['rps']:,.0f} | {health['p50']:.2f} ms | {health['p90']:.2f} ms | "
        f"{health['p99']:.2f} ms | {statuses(health_statuses)} | {health['socket_errors'] or 'none'} |",
        "",
        f"Tracebacks in carepg's log: {len(bug_lines)}.",
    ]
    if args.carepg_src:  # a before/after measurement: leave the committed report alone
        print("\n".join(lines[4:7]))
        return
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n")
    (REPORT.with_suffix(".json")).write_text(json.dumps({"command": cmd, "commit": commit, "runs": runs,
                                                         "median": med, "ratio": ratio, "p99_ratio": p99_ratio,
                                                         "asgi_ratio": asgi_ratio, "asgi_p99_ratio": asgi_p99_ratio,
                                                         "mixed": mixed, "healthz": health}, indent=1) + "\n")
    print("\n".join(lines[4:7]))
    print(f"wrote {REPORT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
