"""Push, measured: commit -> event latency through `carepg serve`'s event stream with 1 and with N subscribers, the
server's database connections meanwhile, full-page req/s with N idle subscribers beside none, and the
application's document writes with N subscribers listening beside none; in one run, on the challenge data.

    bench/push_bench.py [--subscribers 1000] [--events 100] [--seconds 10] [--rounds 3]   -> bench/results/push.md
    bench/push_bench.py --idle-cpu 0.005,0.01 [--subscribers 1000] [--seconds 10]   -> bench/results/push-idle-cpu.md

--idle-cpu: what N idle subscribers cost while nothing changes, for each probe interval given: a server per
interval, the CPU time its processes (every thread) and the relay's backends spent over --seconds, read from
/proc/<pid>/task/*/schedstat (exact, where /proc/<pid>/stat's ticks are sampled and miss a process that sleeps in
step with the tick).

The subscribers are one asyncio client in this process (raw HTTP/1.1 over loopback, chunked SSE parsed as it
arrives), all following worker 101 (the heaviest fan-out: every new shift at a facility it may work at reaches
every one of them). An event's latency is from the moment the INSERT of its shift returned (autocommit: committed)
to the moment a subscriber has parsed it, so the client's own work on the shared 2 cores is in the figure.
Needs Debian's wrk and pgbench.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
REPORT = ROOT / "bench" / "results" / "push.md"
WORKER = 101
PAGE = f"/workers/{WORKER}/shifts?limit=50"


class Subscriber:
    """One stream: the arrival time of each shift id's first event."""

    def __init__(self) -> None:
        self.seen: dict[int, float] = {}
        self.ready = asyncio.Event()
        self.writer: asyncio.StreamWriter | None = None


async def follow(port: int, token: str, sub: Subscriber) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**20)
    sub.writer = writer
    writer.write(f"GET /workers/{WORKER}/events HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n"
                 "Accept: text/event-stream\r\n\r\n".encode())  # fmt: skip
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    buffer = b""
    try:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)  # chunked transfer coding
            if size == 0:
                return
            buffer += await reader.readexactly(size)
            await reader.readexactly(2)
            while b"\n\n" in buffer:
                message, buffer = buffer.split(b"\n\n", 1)
                now = time.perf_counter()
                if message.startswith(b"event: ready"):
                    sub.ready.set()
                elif message.startswith(b"event: available"):
                    shift = int(re.search(rb'"shift_id":(\d+)', message).group(1))
                    sub.seen.setdefault(shift, now)
    except (asyncio.IncompleteReadError, ConnectionError):
        return


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


async def latency_run(port: int, token: str, url: str, subscribers: int, events: int, gap: float) -> dict:
    """`subscribers` streams; then `events` new shifts, one every `gap` seconds; each one's latency to each."""
    import psycopg

    subs = [Subscriber() for _ in range(subscribers)]
    tasks = []
    for i, sub in enumerate(subs):
        tasks.append(asyncio.create_task(follow(port, token, sub)))
        if i % 50 == 49:
            await asyncio.sleep(0.05)  # connect in waves, as real clients arrive
    await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in subs)), 120)
    connections = None
    committed: dict[int, float] = {}
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        facility = (await (await conn.execute(
            'SELECT f.id FROM "Facility" f WHERE f.is_active AND f.id = ANY (shifts.eligible_facility_ids(%s)) '
            "ORDER BY f.id LIMIT 1", (WORKER,))).fetchone())[0]  # fmt: skip
        connections = (await (await conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = 'carepg_api'")).fetchone())[0]  # fmt: skip
        start = dt.datetime(2023, 2, 27, 1, 0)
        for i in range(events):
            cur = await conn.execute(
                'INSERT INTO "Shift" (start, "end", profession, facility_id) VALUES (%s, %s, \'CNA\', %s) RETURNING id',
                (start + dt.timedelta(seconds=i), start + dt.timedelta(seconds=i, hours=1), facility))  # fmt: skip
            shift = (await cur.fetchone())[0]
            committed[shift] = time.perf_counter()
            await asyncio.sleep(gap)
        deadline = time.perf_counter() + 30
        while time.perf_counter() < deadline and not all(len(s.seen) >= events for s in subs):
            await asyncio.sleep(0.1)
        await conn.execute('DELETE FROM "Shift" WHERE id = ANY (%s)', (list(committed),))
    for sub in subs:
        sub.writer.close()
    for task in tasks:
        task.cancel()
    lat = [(s.seen[shift] - t) * 1000 for s in subs for shift, t in committed.items() if shift in s.seen]
    missing = subscribers * events - len(lat)
    return {"subscribers": subscribers, "events": events, "received": len(lat), "missing": missing,
            "p50": pct(lat, 0.5), "p99": pct(lat, 0.99), "max": max(lat), "db_connections": connections}


def hold_idle(port: int, token: str, n: int, stop: threading.Event, ready: threading.Event) -> None:
    """n idle subscribers held open in a thread of their own until `stop`."""

    async def main() -> None:
        subs = [Subscriber() for _ in range(n)]
        tasks = []
        for i, sub in enumerate(subs):
            tasks.append(asyncio.create_task(follow(port, token, sub)))
            if i % 50 == 49:
                await asyncio.sleep(0.05)
        await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in subs)), 120)
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        for sub in subs:
            sub.writer.close()
        for task in tasks:
            task.cancel()

    asyncio.run(main())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subscribers", type=int, default=1000)
    ap.add_argument("--events", type=int, default=100)
    ap.add_argument("--gap", type=float, default=0.1, help="seconds between new shifts")
    ap.add_argument("--seconds", type=int, default=10, help="each wrk and pgbench run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--idle-cpu", metavar="SECONDS,...", help="only the idle cost, for each probe interval given")
    args = ap.parse_args()
    for tool in ("wrk", "pgbench"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed: apt-get install {tool if tool == 'wrk' else 'postgresql-client'}")

    sys.path.insert(0, str(ROOT / "bench"))
    import bench  # noqa: E402  (bench/bench.py: the seed, the document writers)
    import httpbench  # noqa: E402
    from carepg import auth, db, migrations
    from carepg.web.pool import Settings

    secret = secrets.token_hex(32)
    key = auth.KeyConfig(secret.encode(), "HS256", auth.SECRET_ENV)
    token = auth.mint(key, worker_id=WORKER, staff=False, ttl_seconds=6 * 3600)
    url = db.resolve_url(start=True)
    migrations.upgrade(url)
    bench.ensure_seeded(url, "challenge", 2_000_000, 20230201)
    with __import__("psycopg").connect(url, autocommit=True) as conn:
        conn.execute("SELECT shifts.refresh_eligibility()")
    if args.idle_cpu:
        idle_cpu(args, url, secret, token, [float(p) for p in args.idle_cpu.split(",")])
        return
    pairs = bench._writer_pairs(url, bench.WRITERS)

    tmp = Path(tempfile.mkdtemp(prefix="carepg-push-"))
    port = httpbench.free_port()
    log = tmp / "serve.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", auth.SECRET_ENV: secret}
    load_at_start = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    with open(log, "wb") as err:
        server = subprocess.Popen([str(BIN / "carepg"), "serve", "--port", str(port), "--workers", str(args.workers),
                                   "--threads", str(args.threads)], stdout=subprocess.DEVNULL, stderr=err, env=env)
    try:
        httpbench.wait_ready(f"http://127.0.0.1:{port}/healthz", server)
        httpbench.wrk(f"http://127.0.0.1:{port}{PAGE}", 3, token=token)  # warm
        one = asyncio.run(latency_run(port, token, url, 1, args.events, args.gap))
        print(f"1 subscriber: p50 {one['p50']:.1f} ms p99 {one['p99']:.1f} ms", flush=True)
        many = asyncio.run(latency_run(port, token, url, args.subscribers, args.events, args.gap))
        print(f"{args.subscribers} subscribers: p50 {many['p50']:.1f} ms p99 {many['p99']:.1f} ms, "
              f"{many['missing']} missing, {many['db_connections']} API connections", flush=True)

        pages: dict[str, list[dict]] = {"none": [], "idle": []}
        writes: dict[str, list[float]] = {"none": [], "idle": []}
        for _ in range(args.rounds):  # alternate, so drift on a shared machine hits both sides alike
            for side in ("none", "idle"):
                stop, ready = threading.Event(), threading.Event()
                holder = None
                if side == "idle":
                    holder = threading.Thread(target=hold_idle, args=(port, token, args.subscribers, stop, ready))
                    holder.start()
                    ready.wait(180)
                try:
                    pages[side].append(httpbench.wrk(f"http://127.0.0.1:{port}{PAGE}", args.seconds, token=token))
                    writes[side].append(bench._toggle_writes(url, pairs, bench.WRITERS, args.seconds))
                finally:
                    stop.set()
                    if holder:
                        holder.join()
                print(f"{side:4}: page {pages[side][-1]['rps']:,.0f} req/s p99 {pages[side][-1]['p99']:.1f} ms; "
                      f"document writes {writes[side][-1]:,.0f}/s", flush=True)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    bugs = [line for line in log.read_text(errors="replace").splitlines() if '"traceback"' in line]
    shutil.rmtree(tmp, ignore_errors=True)

    med = {side: {"rps": statistics.median(r["rps"] for r in pages[side]),
                  "p99": statistics.median(r["p99"] for r in pages[side]),
                  "writes": statistics.median(writes[side])} for side in pages}  # fmt: skip
    page_ratio = med["idle"]["rps"] / med["none"]["rps"]
    write_ratio = med["idle"]["writes"] / med["none"]["writes"]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()  # fmt: skip
    cmd = " ".join(["bench/push_bench.py", *sys.argv[1:]])
    n = args.subscribers
    poll_ms = float(os.environ.get("CAREPG_WEB_EVENTS_POLL") or Settings.events_poll) * 1000  # what the server used

    def every(values) -> str:
        return ", ".join(f"{v:,.0f}" for v in values)

    lines = [
        "# Push: the event stream of `carepg serve`",
        "",
        f"Generated by `{cmd}` on {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC} at commit `{commit}`; "
        f"`carepg serve --workers {args.workers} --threads {args.threads}` on the challenge data, the subscribers "
        f"one asyncio client on loopback following worker {WORKER}; {os.cpu_count()} cores shared by the client, "
        f"granian and PostgreSQL; load average at start {load_at_start}.",
        "",
        f"Commit -> event: {args.events} new shifts at a facility worker {WORKER} may work at, one every "
        f"{args.gap * 1000:.0f} ms, each timed from the moment its INSERT returned (committed) to the moment a "
        "subscriber had parsed its `available` event.",
        "",
        "| subscribers | events received | p50 | p99 | max | `carepg_api` connections meanwhile |",
        "|---:|---:|---:|---:|---:|---:|",
        *[f"| {r['subscribers']:,} | {r['received']:,} of {r['subscribers'] * r['events']:,} | {r['p50']:.1f} ms | "
          f"**{r['p99']:.1f} ms** | {r['max']:.1f} ms | {r['db_connections']} |" for r in (one, many)],
        "",
        f"The server's database connections: the pool ({args.threads} per worker process, made on demand) and one "
        f"listener per process ({args.workers} processes).",
        "",
        f"Beside {n:,} idle subscribers (connected, nothing changing for them; the relay probing the feed every "
        f"{poll_ms:g} ms), against none, alternating, {args.rounds} rounds of {args.seconds} s, medians:",
        "",
        f"| | none | {n:,} idle subscribers | ratio |",
        "|---|---:|---:|---:|",
        f"| full 50-row pages of worker {WORKER}, `wrk -t2 -c64` | {med['none']['rps']:,.0f} req/s "
        f"(p99 {med['none']['p99']:.1f} ms) | {med['idle']['rps']:,.0f} req/s (p99 {med['idle']['p99']:.1f} ms) | "
        f"**{page_ratio:.2f}x** |",
        f"| the application's document writes, {bench.WRITERS} pgbench writers (each toggling a document of its own "
        f"worker) | {med['none']['writes']:,.0f}/s | {med['idle']['writes']:,.0f}/s | **{write_ratio:.2f}x** |",
        "",
        f"Every run: pages {every(r['rps'] for r in pages['none'])} (none) / "
        f"{every(r['rps'] for r in pages['idle'])} (idle); writes {every(writes['none'])} / "
        f"{every(writes['idle'])}. Tracebacks in the server's log: {len(bugs)}.",
    ]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n")
    REPORT.with_suffix(".json").write_text(json.dumps({"command": cmd, "commit": commit, "latency": [one, many],
                                                       "pages": pages, "writes": writes, "median": med}, indent=1))
    print("\n".join(lines))


def _cpu_seconds(pids: list[int]) -> float:
    """CPU time of every thread of these processes so far (schedstat's first field: nanoseconds on a CPU)."""
    total = 0
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except FileNotFoundError:
            continue
        for tid in tids:
            try:
                total += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
            except FileNotFoundError:
                pass
    return total / 1e9


def idle_cpu(args, url: str, secret: str, token: str, polls: list[float]) -> None:
    import psycopg

    import httpbench  # noqa: E402
    from carepg import auth

    rows = []
    load_at_start = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    for poll in polls:
        port = httpbench.free_port()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", auth.SECRET_ENV: secret, "CAREPG_WEB_EVENTS_POLL": str(poll)}
        server = subprocess.Popen([str(BIN / "carepg"), "serve", "--port", str(port), "--workers", str(args.workers),
                                   "--threads", str(args.threads)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, env=env)  # fmt: skip
        stop, ready = threading.Event(), threading.Event()
        holder = threading.Thread(target=hold_idle, args=(port, token, args.subscribers, stop, ready))
        try:
            httpbench.wait_ready(f"http://127.0.0.1:{port}/healthz", server)
            holder.start()
            ready.wait(180)
            time.sleep(1)
            workers = [int(p) for p in subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True,
                                                      text=True).stdout.split()]  # fmt: skip
            with psycopg.connect(url) as conn:  # the relays: the sessions that wait in the feed's question
                relays = [r[0] for r in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE query LIKE '%%await_concerning_changes%%' "
                    "AND pid <> pg_backend_pid()")]  # fmt: skip
            before = (_cpu_seconds(workers), _cpu_seconds(relays), time.monotonic())
            time.sleep(args.seconds)
            after = (_cpu_seconds(workers), _cpu_seconds(relays), time.monotonic())
        finally:
            stop.set()
            if holder.is_alive():
                holder.join()
            server.terminate()
            server.wait(timeout=20)
        wall = after[2] - before[2]
        row = {"poll": poll, "server": 100 * (after[0] - before[0]) / wall,
               "relays": 100 * (after[1] - before[1]) / wall, "relay_backends": len(relays)}
        rows.append(row)
        print(f"probe every {poll * 1000:g} ms: server processes {row['server']:.1f} %, relay backends "
              f"({len(relays)}) {row['relays']:.1f} % of a core", flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()  # fmt: skip
    cmd = " ".join(["bench/push_bench.py", *sys.argv[1:]])
    lines = [
        "# Push: what idle subscribers cost",
        "",
        f"Generated by `{cmd}` on {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC} at commit `{commit}`; "
        f"`carepg serve --workers {args.workers} --threads {args.threads}`, {args.subscribers:,} idle subscribers "
        f"(nothing changing), CPU over {args.seconds} s from schedstat; load average at start {load_at_start}.",
        "",
        "| relay probe every | server processes (every thread) | relay backends | total, % of one core |",
        "|---:|---:|---:|---:|",
        *[f"| {r['poll'] * 1000:g} ms | {r['server']:.1f} % | {r['relays']:.1f} % ({r['relay_backends']}) | "
          f"**{r['server'] + r['relays']:.1f} %** |" for r in rows],
    ]
    report = REPORT.with_name("push-idle-cpu.md")
    report.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
