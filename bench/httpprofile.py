"""Where a full page's CPU goes, carepg beside the yardstick: the split PERFORMANCE.md ("HTTP") quotes.

Two measurements, each printed as a markdown table:

* servers: `carepg serve` and bench/yardstick.py (granian, 2 workers x 4 threads, as carepg_api) both running;
  wrk loads one, then the other, alternating; the CPU time each process group used during the run (from
  /proc/<pid>/stat: the server's process tree; the PostgreSQL backends logged in as carepg_api) divided by the
  requests answered. wrk's own share is not counted.
* in process: the WSGI callables called in a loop with a real connection, no HTTP, as process CPU per request
  (best of interleaved rounds), with one part of carepg's app swapped out at a time (pool, access log, the
  bearer token's check), and the token check alone: a remembered token, and one verified from scratch (PyJWT).

Every request sends worker 101's own bearer token, minted at the start with a secret made for the run.

    bench/httpprofile.py [--seconds 8] [--rounds 3]     (needs wrk and the challenge data: run make bench-http once)
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
PAGE = "/workers/101/shifts?limit=50"
TICK = os.sysconf("SC_CLK_TCK")
SECRET = secrets.token_hex(32)  # what `carepg serve` (and the in-process app) verify the run's token with


def page_token() -> str:
    from carepg import auth

    key = auth.KeyConfig(SECRET.encode(), "HS256", auth.SECRET_ENV)
    return auth.mint(key, worker_id=101, staff=False, ttl_seconds=4 * 3600)


def cpu_by_group(groups: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each server's process tree (by root pid) and of every postgres process."""
    totals = dict.fromkeys([*groups, "postgres"], 0.0)
    children: dict[int, list[int]] = {}
    stats: dict[int, tuple[str, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        pid, ppid = int(entry), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        stats[pid] = (name, (int(fields[11]) + int(fields[12])) / TICK)
    for group, root in groups.items():
        todo = [root]
        while todo:
            pid = todo.pop()
            totals[group] += stats.get(pid, ("", 0.0))[1]
            todo += children.get(pid, [])
    # The backends the servers talk to (their process title names the role), not other clusters on the machine.
    for pid, (name, seconds) in stats.items():
        if name == "postgres":
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if title.startswith(b"postgres: carepg_api "):
                totals["postgres"] += seconds
    return totals


def servers(seconds: int, rounds: int) -> None:
    from httpbench import free_port, wait_ready

    from carepg.web.server import API_ROLE, api_database_url

    api_url = api_database_url(API_ROLE)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "CAREPG_JWT_SECRET": SECRET}
    header = ["-H", f"Authorization: Bearer {page_token()}"]
    ports = {"carepg": free_port(), "yardstick": free_port()}
    log = open(os.devnull, "wb")
    procs = {
        "carepg": subprocess.Popen([str(ROOT / ".venv/bin/carepg"), "serve", "--port", str(ports["carepg"]),
                                    "--workers", "2", "--threads", "4"], stdout=log, stderr=log, env=env),  # fmt: skip
        "yardstick": subprocess.Popen([sys.executable, str(ROOT / "bench/yardstick.py"), str(ports["yardstick"]),
                                       "2", "4"], stdout=log, stderr=log,
                                      env={**env, "CAREPG_WEB_DATABASE_URL": api_url,
                                           "PYTHONPATH": str(ROOT / "bench")}),  # fmt: skip
    }
    try:
        for name, port in ports.items():
            wait_ready(f"http://127.0.0.1:{port}/healthz" if name == "carepg" else f"http://127.0.0.1:{port}{PAGE}",
                       procs[name])  # fmt: skip
            subprocess.run(["wrk", "-t2", "-c64", "-d3s", *header, f"http://127.0.0.1:{port}{PAGE}"],
                           capture_output=True)  # fmt: skip
        rows = []
        for _ in range(rounds):
            for name, port in ports.items():
                before = cpu_by_group({n: p.pid for n, p in procs.items()})
                out = subprocess.run(["wrk", "-t2", "-c64", f"-d{seconds}s", *header,
                                      f"http://127.0.0.1:{port}{PAGE}"],
                                     capture_output=True, text=True, check=True).stdout  # fmt: skip
                after = cpu_by_group({n: p.pid for n, p in procs.items()})
                requests = int(re.search(r"(\d+) requests in", out).group(1))
                us = {k: (after[k] - before[k]) / requests * 1e6 for k in after}
                rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
                rows.append((name, rps, us[name], us["postgres"]))
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            p.wait(timeout=20)
    print("| server | req/s | CPU us per request: server processes (granian + Python) | PostgreSQL |")
    print("|---|---:|---:|---:|")
    for name, rps, own, pg in rows:
        print(f"| {name} | {rps:,.0f} | {own:.0f} | {pg:.0f} |")


def in_process(rounds: int) -> None:
    import psycopg
    from psycopg_pool import ConnectionPool

    import yardstick
    from carepg import auth, shifts
    from carepg.web import logs
    from carepg.web.app import App
    from carepg.web.server import API_ROLE, api_database_url

    url = api_database_url(API_ROLE)
    os.environ["CAREPG_WEB_DATABASE_URL"] = url
    os.environ["CAREPG_JWT_SECRET"] = SECRET
    authorization = f"Bearer {page_token()}"
    sink = open(os.devnull, "w")
    for handler in logging.getLogger("carepg.web").handlers:
        handler.stream = sink

    def environ() -> dict:
        return {"REQUEST_METHOD": "GET", "PATH_INFO": "/workers/101/shifts", "QUERY_STRING": "limit=50",
                "wsgi.input": io.BytesIO(), "HTTP_AUTHORIZATION": authorization}  # fmt: skip

    def start_response(status, headers):
        pass

    app = App()
    fixed = psycopg.connect(url, autocommit=True, prepare_threshold=0)
    cursor = fixed.cursor()

    class FixedConnection:
        def run(self, fn):
            return fn(fixed)

    other_pool = ConnectionPool(url, min_size=4, max_size=4, kwargs={"autocommit": True, "prepare_threshold": 0})
    other_pool.wait()

    class PsycopgPool:
        def run(self, fn):
            with other_pool.connection() as conn:
                return fn(conn)

    no_pool, with_psycopg_pool = App(FixedConnection()), App(PsycopgPool())  # type: ignore[arg-type]

    class Forgetful(auth.Verifier):  # verifies every token from scratch: what remembering them saves
        def identify(self, header, query=""):
            self._remembered.clear()
            return super().identify(header, query)

    class Trusting(auth.Verifier):  # no token check at all (staff for everyone): what the check costs
        def identify(self, header, query=""):
            return auth.Identity(subject=None, role=auth.STAFF)

    config = auth.configured()
    forgetful, trusting = App(verifier=Forgetful(config)), App(verifier=Trusting(config))
    remembering, from_scratch = auth.Verifier(config), Forgetful(config)
    acting = ("101", "worker")
    queued = logs.access

    def written_in_the_request(*args):
        queued(*args)
        logs.flush_access()

    def access(fn, target):
        def call():
            logs.access = fn
            try:
                return target(environ(), start_response)
            finally:
                logs.access = queued
        return call

    cases = {
        "yardstick's WSGI callable": lambda: yardstick.app(environ(), start_response),
        "carepg's query alone (the same call, nothing around it)": lambda: cursor.execute(
            shifts.QUERIES["available_shifts_json"], (None, None, None, None, 50, 101, *acting),
            binary=True).fetchone(),
        "... with no identity set (a trusted caller)": lambda: cursor.execute(
            shifts.QUERIES["available_shifts_json"], (None, None, None, None, 50, 101, "", ""),
            binary=True).fetchone(),
        "... the function alone, no identity subquery": lambda: cursor.execute(
            "SELECT convert_to(shifts.available_shifts_json(%s, max_rows => %s), 'UTF8')", (101, 50),
            binary=True).fetchone(),
        "carepg's WSGI callable": lambda: app(environ(), start_response),
        "... with one fixed connection instead of the pool": lambda: no_pool(environ(), start_response),
        "... with psycopg_pool instead of carepg's pool": lambda: with_psycopg_pool(environ(), start_response),
        "... without the access line": access(lambda *a: None, app),
        "... with the access line formatted and written in the request": access(written_in_the_request, app),
        "... without the token check (no Authorization needed)": lambda: trusting(environ(), start_response),
        "... verifying the token from scratch on every request (PyJWT)": lambda: forgetful(environ(), start_response),
        "the token check alone, a remembered token": lambda: remembering.identify(authorization).authorize(101),
        "the token check alone, from scratch (PyJWT HS256)": lambda: from_scratch.identify(authorization),
    }  # fmt: skip
    for fn in cases.values():
        for _ in range(100):
            fn()
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(rounds * 4):
        for name, fn in cases.items():
            began = time.process_time()
            for _ in range(300):
                fn()
            best[name] = min(best[name], (time.process_time() - began) / 300 * 1e6)
    logs.flush_access()
    print("| WSGI callable, in process | CPU us per full page |")
    print("|---|---:|")
    for name, us in best.items():
        print(f"| {name} | {us:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"load average at start {' '.join(Path('/proc/loadavg').read_text().split()[:3])}\n")
    servers(args.seconds, args.rounds)
    print()
    in_process(args.rounds)


if __name__ == "__main__":
    main()
