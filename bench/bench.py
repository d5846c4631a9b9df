"""carepg benchmark: every table of PERFORMANCE.md, from one command.

    .venv/bin/python bench/bench.py --profile challenge          # make bench
    .venv/bin/python bench/bench.py --profile large --shifts 2000000

It targets DATABASE_URL or carepg's local cluster ($CAREPG_HOME / $CAREPG_PORT), seeds the profile when the
database does not already hold exactly it, builds a *naive twin* database (the same rows, the challenge schema
with only its primary keys: no carepg index, view, trigger or function) and measures, side by side in one run:

  1. first page and a deep (keyset) page: pgbench -M prepared, function vs naive query -> TPS, p50, p99, ratio;
  2. the whole answer for one worker streamed to the client, function (keyset pages of 1000) vs naive
     (one query, server-side cursor), with a check that both return the same rows;
  3. the cost of keeping eligibility exact: latency of single-document changes (insert + delete of one
     DocumentWorker row, autocommit), p50/p99, against the same statements on the trigger-less twin;
  4. refresh: full and CONCURRENTLY, and first-page latency of a reader running while a concurrent refresh runs;
  5. seed time, database and relation sizes, peak memory (VmHWM) of the backends used;
  6. EXPLAIN (ANALYZE, BUFFERS) of the hot query inside the function (auto_explain in this session);
  7. the write path: latency of shifts.claim_shift() with 1 and with 16 concurrent claimers on distinct shifts
     (and of release_shift()), and throughput when 16 claimers fight over the same few shifts.

Results go to bench/results/<profile>-<shifts>.md (the report PERFORMANCE.md quotes) and .json (for the plot).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "cli"))

from carepg import db, migrations  # noqa: E402
from carepg import seed as seed_mod  # noqa: E402

RESULTS = ROOT / "bench" / "results"
PAGE = 50  # rows per page, as the HTTP API's default

NAIVE = """
SELECT s.id AS shift_id, s.facility_id, f.name AS facility_name, s.start, s."end", s.profession
FROM "Shift" AS s
JOIN "Facility" AS f ON f.id = s.facility_id
JOIN "Worker" AS w ON w.id = {worker}
WHERE w.is_active AND f.is_active AND NOT s.is_deleted AND s.worker_id IS NULL
  AND s.profession = w.profession
  AND NOT EXISTS (SELECT FROM "FacilityRequirement" AS r
                  WHERE r.facility_id = f.id
                    AND NOT EXISTS (SELECT FROM "DocumentWorker" AS d
                                    WHERE d.worker_id = w.id AND d.document_id = r.document_id))
  AND NOT EXISTS (SELECT FROM "Shift" AS c
                  WHERE c.worker_id = w.id AND NOT c.is_deleted
                    AND tsrange(c.start, greatest(c.start, c."end")) && tsrange(s.start, greatest(s.start, s."end")))
  {after}
ORDER BY s.start, s.id
{limit}"""


def naive_query(worker: int, after: tuple[str, int] | None = None, limit: int | None = PAGE) -> str:
    cond = f"AND (s.start, s.id) > ('{after[0]}'::timestamp, {after[1]})" if after else ""
    return NAIVE.format(worker=int(worker), after=cond, limit=f"LIMIT {int(limit)}" if limit else "")


def function_query(worker: int, after: tuple[str, int] | None = None, limit: int = PAGE) -> str:
    cursor = f", after_start => '{after[0]}', after_id => {after[1]}" if after else ""
    return f"SELECT * FROM shifts.available_shifts({int(worker)}{cursor}, max_rows => {int(limit)})"


# --- helpers -------------------------------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def with_db(url: str, dbname: str) -> str:
    return re.sub(r"(postgresql://[^/]*/)([^?]*)", lambda m: m.group(1) + dbname, url, count=1)


def pgbench(url: str, query: str, seconds: float, max_tx: int | None = None) -> dict:
    """One client, -M prepared; latencies from the per-transaction log."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "q.sql"
        script.write_text(query.replace("\n", " ") + ";\n")
        limit = ["-t", str(max_tx)] if max_tx else ["-T", str(max(1, int(seconds)))]
        cmd = ["pgbench", "-n", "-M", "prepared", "-c", "1", *limit, "-f", str(script), "-l", "--log-prefix",
               str(Path(tmp) / "log"), url]
        began = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
        elapsed = time.perf_counter() - began
        if out.returncode != 0:
            raise RuntimeError(f"pgbench failed: {out.stderr}")
        lat = []
        for log in Path(tmp).glob("log*"):
            for line in log.read_text().splitlines():
                lat.append(int(line.split()[2]) / 1000.0)  # microseconds -> ms
    tps = float(re.search(r"tps = ([0-9.]+)", out.stdout).group(1))
    return {"tps": tps, "n": len(lat), "mean": statistics.fmean(lat), "p50": pct(lat, 0.5), "p99": pct(lat, 0.99),
            "wall_s": elapsed}


def machine_facts(conn: psycopg.Connection) -> dict:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    settings = dict(conn.execute(
        "SELECT name, setting || coalesce(unit, '') FROM pg_settings WHERE name IN "
        "('shared_buffers','work_mem','max_parallel_workers_per_gather','jit','effective_cache_size','fsync',"
        "'synchronous_commit')").fetchall())
    return {
        "cpu": f"{os.cpu_count()} x {cpu}",
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
        "postgres": conn.execute("SHOW server_version").fetchone()[0],
        "settings": settings,
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "git": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=ROOT).stdout.strip(),
    }


def vm_hwm_kb(pid: int) -> int:
    try:
        return int(re.search(r"VmHWM:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))
    except (OSError, AttributeError):
        return 0


def server_memory(conn: psycopg.Connection) -> dict:
    """Peak resident memory (VmHWM) of the server's processes: the largest one, and their current sum.

    Shared buffers count in every process that touched them, so the sum overstates; the largest one is the
    honest "peak per backend". Needs the server on this machine (a local cluster).
    """
    data = conn.execute("SHOW data_directory").fetchone()[0]
    try:
        postmaster = int(Path(data, "postmaster.pid").read_text().split()[0])
    except OSError:
        return {}
    pids = [postmaster]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if int(re.search(r"PPid:\s+(\d+)", (proc / "status").read_text()).group(1)) == postmaster:
                    pids.append(int(proc.name))
            except (OSError, AttributeError):
                pass
    hwm = {pid: vm_hwm_kb(pid) for pid in pids}
    return {"processes": len(pids), "max_hwm_kb": max(hwm.values()), "postmaster_hwm_kb": hwm[postmaster]}


# --- seeding -------------------------------------------------------------------------------------------------


def ensure_seeded(url: str, profile: str, shifts: int, seed: int) -> dict:
    """Seed unless the database already holds this profile at this size (seed parameters kept in a comment)."""
    marker = f"carepg-bench profile={profile} shifts={shifts} seed={seed}"
    with psycopg.connect(url, autocommit=True) as conn:
        comment = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()"
        ).fetchone()[0] or ""
        if comment.startswith(marker):
            info = json.loads(comment[len(marker):].strip() or "{}")
            info["seeded_now"] = False
            return info
        print(f"seeding {profile} with {shifts:,} shifts ...", flush=True)
        _, seconds = seed_mod.seed(conn, profile=profile, shifts=shifts, seed=seed, reset=True)
        conn.execute("VACUUM (ANALYZE)")
        info = {"seed_s": round(seconds, 1), "seeded_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(conn.info.dbname), sql.Literal(marker + " " + json.dumps(info))))
        info["seeded_now"] = True
        return info


def ensure_naive_twin(url: str) -> str:
    """<db>_naive: a copy of the data with the challenge schema's primary keys only."""
    with psycopg.connect(url, autocommit=True) as conn:
        dbname = conn.info.dbname
        marker = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()"
        ).fetchone()[0]
    twin = dbname + "_naive"
    admin = with_db(url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (twin,)).fetchone()
        if row and row[0] == marker and _is_carepg_free(with_db(url, twin)):
            return with_db(url, twin)
        print(f"building the naive twin {twin} ...", flush=True)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(twin)))
        # CREATE DATABASE ... TEMPLATE needs the source idle: end other sessions on it first.
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> "
                     "pg_backend_pid()", (dbname,))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(twin), sql.Identifier(dbname)))
    twin_url = with_db(url, twin)
    with psycopg.connect(twin_url, autocommit=True) as conn:
        for (name,) in conn.execute("SELECT indexrelid::regclass::text FROM pg_index i JOIN pg_class c ON "
                                    "c.oid = i.indexrelid WHERE c.relname LIKE 'carepg%%'").fetchall():
            conn.execute(f"DROP INDEX {name}")
        # Every carepg schema: the functions, the view, the change log and, with the trigger functions in
        # shifts_private, the triggers on the application's tables.
        for schema in ("shifts", "shifts_private", "mrf", "mrf_private", "carepg_ext"):
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        conn.execute("DROP TABLE IF EXISTS alembic_version")
        left = conn.execute("SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE "
                            "'%%_pkey'").fetchone()[0]
        assert left == 0, "the naive twin must have primary keys only"
        assert_carepg_free(conn)
        conn.execute("VACUUM (ANALYZE)")
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(twin), sql.Literal(marker)))
    return twin_url


def _is_carepg_free(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            assert_carepg_free(conn)
        except AssertionError:
            return False
    return True


def assert_carepg_free(conn: psycopg.Connection) -> None:
    """Nothing of carepg's may be left in a baseline database: no trigger on the application's tables (foreign
    keys' internal triggers aside), no function or schema of carepg's."""
    triggers = conn.execute("SELECT tgrelid::regclass::text || ' ' || tgname FROM pg_trigger WHERE NOT tgisinternal"
                            ).fetchall()
    assert not triggers, f"carepg triggers left in the baseline: {triggers}"
    functions = conn.execute("SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = "
                             "p.pronamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')").fetchall()
    assert not functions, f"functions left in the baseline: {functions}"
    schemas = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname IN "
                           "('shifts', 'shifts_private', 'mrf', 'mrf_private', 'carepg_ext')").fetchall()
    assert not schemas, f"carepg schemas left in the baseline: {schemas}"


# --- measurements --------------------------------------------------------------------------------------------


def pick_workers(conn: psycopg.Connection, profile: str) -> dict:
    """The workers measured: for the challenge, its deterministic CNA worker; for large, a typical worker."""
    if profile == "challenge":
        worker = conn.execute("SELECT id FROM \"Worker\" WHERE name = 'Deterministic #1'").fetchone()[0]
    else:
        # A typical eligible worker: the median number of available shifts among a fixed sample of active ones.
        rows = conn.execute(
            "SELECT w.id, shifts.count_available_shifts(w.id) AS n FROM \"Worker\" w "
            "WHERE w.is_active AND w.id % 997 = 1 ORDER BY w.id").fetchall()
        eligible = sorted((n, i) for i, n in rows if n > 0)
        worker = eligible[len(eligible) // 2][1]
    total = conn.execute("SELECT shifts.count_available_shifts(%s)", (worker,)).fetchone()[0]
    deep_at = total * 4 // 5
    # The key of the row at 80 % of the answer, found by walking keyset pages (what a client does).
    after = None
    seen = 0
    with conn.cursor() as cur:
        while seen < deep_at:
            step = min(1000, deep_at - seen)
            if after:
                cur.execute("SELECT start, shift_id FROM shifts.available_shifts(%s, after_start => %s, after_id => "
                            "%s, max_rows => %s)", (worker, after[0], after[1], step))
            else:
                cur.execute("SELECT start, shift_id FROM shifts.available_shifts(%s, max_rows => %s)", (worker, step))
            rows = cur.fetchall()
            if not rows:
                break
            seen += len(rows)
            after = rows[-1]
    return {"worker": worker, "total": total, "deep_after": (after[0].isoformat(sep=" "), after[1]) if after else None}


def bench_pages(url: str, naive_url: str | None, w: dict, seconds: float, naive_tx: int | None) -> dict:
    out = {}
    for name, after in (("first", None), ("deep", w["deep_after"])):
        fn = pgbench(url, function_query(w["worker"], after), seconds)
        nv = pgbench(naive_url, naive_query(w["worker"], after), seconds, max_tx=naive_tx) if naive_url else None
        out[name] = {"function": fn, "naive": nv, "ratio_p50": nv["p50"] / fn["p50"] if nv else None}
        print(f"  {name} page: function p50 {fn['p50']:.3f} ms p99 {fn['p99']:.3f} ms; naive p50 "
              f"{nv['p50'] if nv else float('nan'):.1f} ms", flush=True)
    return out


def _copy_lines(cur, query: str, params=None) -> tuple[int, bytes]:
    """COPY a query's rows to the client, discarding them; returns (rows, last line)."""
    rows, tail = 0, b""
    with cur.copy(f"COPY ({query}) TO STDOUT", params) as copy:
        for block in copy:
            block = bytes(block)
            rows += block.count(b"\n")
            tail = (tail + block)[-512:]
    return rows, tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]


def stream_function(url: str, worker: int) -> tuple[float, int]:
    """The whole answer as a client pages through it: keyset pages of 1000, each COPYed out."""
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
        began = time.perf_counter()
        total, after = 0, None
        while True:
            if after:
                n, last = _copy_lines(cur, "SELECT * FROM shifts.available_shifts(%s, after_start => %s, after_id "
                                      "=> %s, max_rows => 1000)", (worker, after[0], after[1]))
            else:
                n, last = _copy_lines(cur, "SELECT * FROM shifts.available_shifts(%s, max_rows => 1000)", (worker,))
            total += n
            if n < 1000:
                break
            fields = last.decode().split("\t")
            after = (fields[3], int(fields[0]))
        return time.perf_counter() - began, total


def stream_naive(url: str, worker: int) -> tuple[float, int]:
    """The naive query without LIMIT, COPYed out in one go."""
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
        began = time.perf_counter()
        n, _ = _copy_lines(cur, naive_query(worker, limit=None))
        return time.perf_counter() - began, n


def whole_answer_digest(url: str, query_pages) -> tuple[int, int]:
    """(rows, order-sensitive hash of every column) for the correctness check, outside the timed runs."""
    n, h = 0, 0
    for row in query_pages(url):
        h = hash((h, tuple(str(v) for v in row)))
        n += 1
    return n, h


def function_rows(url: str, worker: int):
    with psycopg.connect(url, autocommit=True) as conn:
        after = None
        while True:
            rows = conn.execute(
                "SELECT shift_id, facility_id, facility_name, start, \"end\", profession::text FROM "
                "shifts.available_shifts(%s, after_start => %s, after_id => %s, max_rows => 1000)",
                (worker, after[0] if after else None, after[1] if after else None)).fetchall()
            yield from rows
            if len(rows) < 1000:
                return
            after = (rows[-1][3], rows[-1][0])


def naive_rows(url: str, worker: int):
    with psycopg.connect(url) as conn, conn.cursor(name="whole") as cur:
        cur.itersize = 5000
        cur.execute(naive_query(worker, limit=None).replace("s.profession", "s.profession::text", 1))
        yield from cur


def bench_whole(url: str, naive_url: str | None, worker: int, runs: int) -> dict:
    if naive_url is None:
        fn = [stream_function(url, worker) for _ in range(runs)]
        f_s = statistics.median(t for t, _ in fn)
        print(f"  whole answer ({fn[0][1]:,} rows): function {f_s:.3f} s (naive skipped)", flush=True)
        return {"rows": fn[0][1], "function_s": f_s, "naive_s": None, "ratio": None, "runs": runs,
                "same_rows": None, "function_db_s": None, "naive_db_s": None, "db_ratio": None, "pages": None}
    same = whole_answer_digest(url, lambda u: function_rows(u, worker)) == whole_answer_digest(
        naive_url, lambda u: naive_rows(u, worker))
    assert same, "function and naive query disagree"
    fn = [stream_function(url, worker) for _ in range(runs)]
    nv = [stream_naive(naive_url, worker) for _ in range(runs)]
    assert {n for _, n in fn} == {n for _, n in nv}
    f_s = statistics.median(t for t, _ in fn)
    n_s = statistics.median(t for t, _ in nv)
    # The database's share: the same pages / query with count(*) on top, so nothing is formatted or sent.
    keys = [None]
    for i, row in enumerate(function_rows(url, worker), 1):
        if i % 1000 == 0:
            keys.append((row[3], row[0]))
    with psycopg.connect(url, autocommit=True) as conn:
        began = time.perf_counter()
        for k in keys:
            conn.execute("SELECT count(*) FROM shifts.available_shifts(%s, after_start => %s, after_id => %s, "
                         "max_rows => 1000)", (worker, k and k[0], k and k[1]), prepare=True).fetchone()
        f_db = time.perf_counter() - began
    with psycopg.connect(naive_url, autocommit=True) as conn:
        began = time.perf_counter()
        conn.execute(f"SELECT count(*) FROM ({naive_query(worker, limit=None)}) AS q").fetchone()
        n_db = time.perf_counter() - began
    print(f"  whole answer ({fn[0][1]:,} rows): function {f_s:.3f} s, naive {n_s:.3f} s; "
          f"database only {f_db:.3f} s vs {n_db:.3f} s", flush=True)
    return {"rows": fn[0][1], "function_s": f_s, "naive_s": n_s, "ratio": n_s / f_s, "runs": runs,
            "same_rows": True, "function_db_s": f_db, "naive_db_s": n_db, "db_ratio": n_db / f_db,
            "pages": len(keys)}


def bench_maintenance(url: str, naive_url: str, changes: int) -> dict:
    """Single-document changes: insert one held document, then delete it again (data unchanged overall)."""
    results = {}
    pairs = None
    with psycopg.connect(url, autocommit=True) as conn:  # count only what these statements leave behind
        unseen_before = conn.execute("SELECT unseen_changes FROM shifts.eligibility_status()").fetchone()[0]
    for label, target in (("carepg", url), ("no triggers (naive twin)", naive_url)):
        with psycopg.connect(target, autocommit=True) as conn:
            # The same pairs on both sides (picked where the indexes are: the twin has none to pick with).
            # A document the worker does not hold: the insert really gains it and the delete really loses it,
            # so every statement is a real change of what the worker holds (not a duplicate row).
            pairs = pairs or conn.execute(
                "SELECT w.id, d.id FROM \"Worker\" w CROSS JOIN LATERAL (SELECT id FROM \"Document\" x "
                "WHERE NOT EXISTS (SELECT FROM \"DocumentWorker\" h WHERE h.worker_id = w.id AND h.document_id = x.id) "
                "ORDER BY md5(w.id::text || x.id::text) LIMIT 1) d WHERE w.is_active ORDER BY md5(w.id::text) LIMIT %s",
                (changes,)).fetchall()
            # How many facilities require each document: a change can touch that many pairs.
            reach = dict(conn.execute("SELECT d.id, count(DISTINCT r.facility_id) FROM \"Document\" d LEFT JOIN "
                                      "\"FacilityRequirement\" r ON r.document_id = d.id GROUP BY d.id").fetchall())
            facilities = conn.execute("SELECT count(*) FROM \"Facility\"").fetchone()[0]
            ins, dele, wide, narrow = [], [], [], []
            for worker, document in pairs:
                t = time.perf_counter()
                row = conn.execute("INSERT INTO \"DocumentWorker\" (worker_id, document_id) VALUES (%s, %s) "
                                   "RETURNING id", (worker, document), prepare=True).fetchone()
                ins.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                conn.execute("DELETE FROM \"DocumentWorker\" WHERE id = %s", (row[0],), prepare=True)
                dele.append((time.perf_counter() - t) * 1000)
                (wide if reach[document] >= facilities * 0.1 else narrow).extend(ins[-1:] + dele[-1:])
            both = ins + dele
            results[label] = {"n": len(both), "p50": pct(both, 0.5), "p99": pct(both, 0.99),
                              "insert_p50": pct(ins, 0.5), "insert_p99": pct(ins, 0.99),
                              "delete_p50": pct(dele, 0.5), "delete_p99": pct(dele, 0.99),
                              "wide_n": len(wide), "wide_p50": pct(wide, 0.5) if wide else None,
                              "wide_p99": pct(wide, 0.99) if wide else None,
                              "narrow_n": len(narrow), "narrow_p50": pct(narrow, 0.5) if narrow else None,
                              "narrow_p99": pct(narrow, 0.99) if narrow else None}
        print(f"  maintenance {label}: p50 {results[label]['p50']:.2f} ms p99 {results[label]['p99']:.2f} ms",
              flush=True)
    with psycopg.connect(url, autocommit=True) as conn:
        unseen_after = conn.execute("SELECT unseen_changes FROM shifts.eligibility_status()").fetchone()[0]
    results["unseen_after"] = unseen_after - unseen_before
    return results


def bench_refresh(url: str, worker: int) -> dict:
    """Full and concurrent refresh; a reader asks for first pages throughout the concurrent one."""
    out = {}
    with psycopg.connect(url, autocommit=True) as conn:
        out["view_rows"] = conn.execute("SELECT count(*) FROM shifts_private.eligible_pair").fetchone()[0]
        for mode in (False, True):
            t = time.perf_counter()
            conn.execute("SELECT shifts.refresh_eligibility(%s)", (mode,))
            out["concurrent_s" if mode else "full_s"] = time.perf_counter() - t
    # Readers: baseline, then during a concurrent refresh.
    def reader(stop: threading.Event, lat: list[float]) -> None:
        with psycopg.connect(url, autocommit=True) as rc:
            q = "SELECT * FROM shifts.available_shifts(%s, max_rows => 50)"
            while not stop.is_set():
                t = time.perf_counter()
                rc.execute(q, (worker,), prepare=True).fetchall()
                lat.append((time.perf_counter() - t) * 1000)

    def run_reader(during) -> list[float]:
        stop, lat = threading.Event(), []
        th = threading.Thread(target=reader, args=(stop, lat))
        th.start()
        elapsed = during()
        stop.set()
        th.join()
        return lat, elapsed

    base, _ = run_reader(lambda: time.sleep(max(2.0, min(out["concurrent_s"], 10))))

    def refresh() -> float:
        with psycopg.connect(url, autocommit=True) as conn:
            t = time.perf_counter()
            conn.execute("SELECT shifts.refresh_eligibility(true)")
            return time.perf_counter() - t

    during, elapsed = run_reader(refresh)
    out["concurrent_with_reader_s"] = elapsed
    out["reader_baseline"] = {"n": len(base), "p50": pct(base, 0.5), "p99": pct(base, 0.99), "max": max(base)}
    out["reader_during"] = {"n": len(during), "p50": pct(during, 0.5), "p99": pct(during, 0.99), "max": max(during)}
    print(f"  refresh: full {out['full_s']:.2f} s, concurrent {out['concurrent_s']:.2f} s; reader p99 "
          f"{out['reader_baseline']['p99']:.2f} -> {out['reader_during']['p99']:.2f} ms (max {out['reader_during']['max']:.1f})",
          flush=True)
    return out


# --- the write path ---------------------------------------------------------------------------------------------

CLAIMERS = 16
HOT_SHIFTS = 4


def _claim_plan(url: str, claimers: int) -> tuple[list[int], list[list[int]], list[int]]:
    """Bench workers (CNA, holding every document: eligible at every active facility) and, for each, one open
    CNA shift per (day, start hour) that no other bench worker gets: shifts of one worker never overlap."""
    with psycopg.connect(url, autocommit=True) as conn:
        workers = [conn.execute(
            "INSERT INTO \"Worker\" (name, is_active, profession) VALUES (%s, true, 'CNA') RETURNING id",
            (f"carepg-bench claimer {i}",)).fetchone()[0] for i in range(claimers)]
        conn.execute("INSERT INTO \"DocumentWorker\" (worker_id, document_id) SELECT w, d.id "
                     "FROM unnest(%s::int[]) AS w CROSS JOIN \"Document\" AS d", (workers,))
        rows = conn.execute(
            "SELECT rank, id FROM (SELECT s.id, row_number() OVER (PARTITION BY s.start::date, "
            "extract(hour FROM s.start) ORDER BY s.id) AS rank, s.start FROM \"Shift\" AS s "
            "JOIN \"Facility\" AS f ON f.id = s.facility_id AND f.is_active "
            "WHERE s.profession = 'CNA' AND s.worker_id IS NULL AND NOT s.is_deleted) AS x "
            "WHERE rank <= %s ORDER BY start, id", (claimers + HOT_SHIFTS,)).fetchall()
    plans: list[list[int]] = [[] for _ in range(claimers)]
    hot: list[int] = []
    for rank, shift in rows:
        if rank <= claimers:
            plans[rank - 1].append(shift)
        elif len(hot) < HOT_SHIFTS and rank == claimers + 1:
            hot.append(shift)  # the first few slots' next shift: the ones everybody fights over
    return workers, plans, hot


def _drop_claimers(url: str, workers: list[int]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE \"Shift\" SET worker_id = NULL WHERE worker_id = ANY (%s)", (workers,))
        conn.execute("DELETE FROM \"DocumentWorker\" WHERE worker_id = ANY (%s)", (workers,))
        conn.execute("DELETE FROM \"Worker\" WHERE id = ANY (%s)", (workers,))
        conn.execute("DELETE FROM shifts_private.worker_lock WHERE worker_id = ANY (%s)", (workers,))
        conn.execute("VACUUM (ANALYZE) \"Shift\"")


CLAIM_SQL = "SELECT * FROM shifts.claim_shift(%s, %s)"
RELEASE_SQL = "SELECT shifts.release_shift(%s, %s)"


def _claimer(url, worker, shifts, barrier, out, mode, seconds) -> None:
    """One claimer process: its own connection (autocommit, READ COMMITTED, as the web app), prepared statements;
    per-call latency measured around each call."""
    try:
        out.put(_claims_in_process(url, worker, shifts, barrier, mode, seconds))
    except BaseException as exc:  # noqa: BLE001 - reported by the parent, which would otherwise wait
        out.put({"error": f"{type(exc).__name__}: {exc}"})
        raise


def _claims_in_process(url, worker, shifts, barrier, mode, seconds) -> dict:
    import random

    lat_claim, lat_release, wins, taken = [], [], 0, 0
    with psycopg.connect(url, autocommit=True) as conn:
        # Warm, as a pooled connection is: the function compiled and its statements planned in this backend (the
        # first call of a new connection costs ~5 ms more). Not counted.
        try:
            conn.execute(CLAIM_SQL, (worker, shifts[0]), prepare=True).fetchone()
            conn.execute(RELEASE_SQL, (worker, shifts[0]), prepare=True).fetchone()
        except psycopg.Error:  # contended: someone else holds it right now
            pass
        barrier.wait()
        began = time.perf_counter()
        if mode == "distinct":
            for s in shifts:
                t = time.perf_counter()
                conn.execute(CLAIM_SQL, (worker, s), prepare=True).fetchone()
                lat_claim.append((time.perf_counter() - t) * 1000)
            claimed_s = time.perf_counter() - began
            barrier.wait()
            for s in shifts:
                t = time.perf_counter()
                conn.execute(RELEASE_SQL, (worker, s), prepare=True).fetchone()
                lat_release.append((time.perf_counter() - t) * 1000)
            return {"claim": lat_claim, "release": lat_release, "wall_s": claimed_s}
        rng = random.Random(worker)
        while time.perf_counter() - began < seconds:  # contended: fight for the hot shifts, give a win back
            s = rng.choice(shifts)
            t = time.perf_counter()
            try:
                conn.execute(CLAIM_SQL, (worker, s), prepare=True).fetchone()
                lat_claim.append((time.perf_counter() - t) * 1000)
                wins += 1
                conn.execute(RELEASE_SQL, (worker, s), prepare=True).fetchone()
            except psycopg.Error as err:
                lat_claim.append((time.perf_counter() - t) * 1000)
                if err.sqlstate != "CP409":
                    raise
                taken += 1
        return {"claim": lat_claim, "wins": wins, "taken": taken, "wall_s": time.perf_counter() - began}


def _run_claimers(url, workers, plans, mode, seconds=0.0) -> list[dict]:
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    barrier, out = ctx.Barrier(len(workers)), ctx.Queue()
    procs = [ctx.Process(target=_claimer, args=(url, w, p, barrier, out, mode, seconds))
             for w, p in zip(workers, plans)]
    for p in procs:
        p.start()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(60)
    failed = [r["error"] for r in results if "error" in r]
    if failed:
        raise RuntimeError(f"a claimer failed: {failed[0]}")
    return results


def _document_changes(url: str, avoid: list[int], stop: threading.Event, lat: list[float]) -> None:
    """An eligibility writer meanwhile: a document another worker lacks, gained and lost again, one autocommit
    statement each (each takes the eligibility state row the claims share)."""
    with psycopg.connect(url, autocommit=True) as conn:
        worker, document = conn.execute(
            "SELECT w.id, d.id FROM \"Worker\" w CROSS JOIN \"Document\" d WHERE w.is_active AND w.id <> ALL (%s) "
            "AND NOT EXISTS (SELECT FROM \"DocumentWorker\" h WHERE h.worker_id = w.id AND h.document_id = d.id) "
            "ORDER BY w.id, d.id LIMIT 1", (avoid,)).fetchone()
        while not stop.is_set():
            t = time.perf_counter()
            row = conn.execute("INSERT INTO \"DocumentWorker\" (worker_id, document_id) VALUES (%s, %s) RETURNING id",
                               (worker, document), prepare=True).fetchone()
            lat.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            conn.execute("DELETE FROM \"DocumentWorker\" WHERE id = %s", (row[0],), prepare=True)
            lat.append((time.perf_counter() - t) * 1000)
            time.sleep(0.005)


def _latency(values: list[float]) -> dict:
    return {"n": len(values), "p50": pct(values, 0.5), "p99": pct(values, 0.99), "max": max(values)}


def bench_claims(url: str, seconds: float) -> dict:
    """claim_shift() latency with 1 and with 16 concurrent claimers on distinct shifts, release_shift() latency,
    and 16 claimers fighting over a few shifts; the data is as it was afterwards (bench workers removed)."""
    workers, plans, hot = _claim_plan(url, CLAIMERS)
    try:
        out: dict = {"claimers": CLAIMERS, "per_claimer": min(len(p) for p in plans), "hot_shifts": len(hot)}
        # One claimer: the same claims one after another, each worker's shifts in turn.
        single = [_run_claimers(url, [w], [p], "distinct")[0] for w, p in zip(workers, plans)]
        out["single"] = {"claim": _latency([x for r in single for x in r["claim"]]),
                         "release": _latency([x for r in single for x in r["release"]]),
                         "claims_per_s": sum(len(r["claim"]) for r in single) / sum(r["wall_s"] for r in single)}
        many = _run_claimers(url, workers, plans, "distinct")
        out["concurrent"] = {"claim": _latency([x for r in many for x in r["claim"]]),
                             "release": _latency([x for r in many for x in r["release"]]),
                             "claims_per_s": sum(len(r["claim"]) for r in many) / max(r["wall_s"] for r in many)}
        stop, writes = threading.Event(), []
        writer = threading.Thread(target=_document_changes, args=(url, workers, stop, writes))
        writer.start()
        try:
            fight = _run_claimers(url, workers, [hot] * CLAIMERS, "contended", seconds)
        finally:
            stop.set()
            writer.join()
        out["writes_during_fight"] = _latency(writes)
        wall = max(r["wall_s"] for r in fight)
        out["contended"] = {"attempt": _latency([x for r in fight for x in r["claim"]]),
                            "attempts_per_s": sum(len(r["claim"]) for r in fight) / wall,
                            "wins_per_s": sum(r["wins"] for r in fight) / wall,
                            "taken": sum(r["taken"] for r in fight), "wins": sum(r["wins"] for r in fight),
                            "seconds": wall}
    finally:
        _drop_claimers(url, workers)
    s1, c16, f = out["single"], out["concurrent"], out["contended"]
    print(f"  claims: 1 claimer p50 {s1['claim']['p50']:.2f} ms p99 {s1['claim']['p99']:.2f} ms; 16 claimers p50 "
          f"{c16['claim']['p50']:.2f} ms p99 {c16['claim']['p99']:.2f} ms; contended {f['attempts_per_s']:,.0f} "
          f"attempts/s ({f['wins_per_s']:,.0f} wins/s)", flush=True)
    return out


# --- who waits for whom: the host application's writes beside carepg ---------------------------------------------

WRITERS = 8
# carepg's triggers on the application's tables (public/eligibility_triggers.sql): what "triggers off" disables.
CAREPG_TRIGGERS = [(t, f"carepg_eligibility_{op}") for t in ("DocumentWorker", "FacilityRequirement")
                   for op in ("insert", "update", "delete", "truncate")] + \
                  [(t, f"carepg_eligibility_{op}") for t in ("Worker", "Facility") for op in ("insert", "update", "truncate")]


def _carepg_triggers(url: str, enabled: bool) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for table, trigger in CAREPG_TRIGGERS:
            conn.execute(sql.SQL("ALTER TABLE {} {} TRIGGER {}").format(
                sql.Identifier(table), sql.SQL("ENABLE" if enabled else "DISABLE"), sql.Identifier(trigger)))


def _writer_pairs(url: str, n: int) -> list[tuple[int, int]]:
    """n distinct active workers, each with a document it does not hold (toggling it changes its eligibility)."""
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT w.id, d.id FROM \"Worker\" w CROSS JOIN LATERAL (SELECT x.id FROM \"Document\" x WHERE NOT EXISTS "
            "(SELECT FROM \"DocumentWorker\" h WHERE h.worker_id = w.id AND h.document_id = x.id) ORDER BY x.id "
            "LIMIT 1) d WHERE w.is_active AND w.name NOT LIKE 'carepg-bench%%' ORDER BY w.id LIMIT %s", (n,)).fetchall()


def _toggle_script(pairs: list[tuple[int, int]]) -> str:
    """pgbench: each client toggles its own worker's document (insert it, delete it again): two autocommit writes."""
    case = lambda i: "CASE " + " ".join(f"WHEN :client_id = {k} THEN {p[i]}" for k, p in enumerate(pairs)) + " END"  # noqa: E731
    return (f"\\set w {case(0)}\n\\set d {case(1)}\n"
            "INSERT INTO \"DocumentWorker\" (worker_id, document_id) VALUES (:w, :d) RETURNING id AS row_id \\gset\n"
            "DELETE FROM \"DocumentWorker\" WHERE id = :row_id;\n")


def _toggle_writes(url: str, pairs: list[tuple[int, int]], clients: int, seconds: float) -> float:
    """Document writes per second (two per pgbench transaction) of `clients` writers, each on its own worker."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "toggle.sql"
        script.write_text(_toggle_script(pairs[:clients]))
        out = subprocess.run(["pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", str(min(clients, 2)),
                              "-T", str(max(1, int(seconds))), "-f", str(script), url],
                             capture_output=True, text=True, cwd=tmp)
    if out.returncode != 0:
        raise RuntimeError(f"pgbench failed: {out.stderr}")
    return 2 * float(re.search(r"tps = ([0-9.]+)", out.stdout).group(1))


def _claim_latencies(url: str, worker: int, shifts: list[int], stop: threading.Event) -> list[float]:
    """One claimer on a warm connection: claim and release its own shifts in turn until stopped (claim latency)."""
    lat: list[float] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(CLAIM_SQL, (worker, shifts[0]), prepare=True).fetchone()
        conn.execute(RELEASE_SQL, (worker, shifts[0]), prepare=True).fetchone()
        i = 0
        while not stop.is_set():
            s = shifts[i % len(shifts)]
            i += 1
            t = time.perf_counter()
            conn.execute(CLAIM_SQL, (worker, s), prepare=True).fetchone()
            lat.append((time.perf_counter() - t) * 1000)
            conn.execute(RELEASE_SQL, (worker, s), prepare=True).fetchone()
    return lat


def _held_open(url: str, holder_sql: str, probes: dict[str, tuple[str, tuple]], hold_s: float) -> dict[str, float]:
    """Run holder_sql in a transaction and keep it open hold_s seconds; meanwhile time each probe (autocommit, one
    after another). The milliseconds each probe took."""
    waited: dict[str, float] = {}
    with psycopg.connect(url) as holder, psycopg.connect(url, autocommit=True) as probe:
        cur = holder.execute(holder_sql)
        if cur.description:
            cur.fetchall()
        opened = time.perf_counter()
        for name, (query, params) in probes.items():
            t = time.perf_counter()
            cur = probe.execute(query, params)
            if cur.description:
                cur.fetchall()
            waited[name] = (time.perf_counter() - t) * 1000
        time.sleep(max(0.0, hold_s - (time.perf_counter() - opened)))
        holder.rollback()
    return waited


def bench_contention(url: str, seconds: float, rounds: int = 3) -> dict:
    """The application's document writes with carepg's triggers on and off (same database, same statements),
    1 and 8 writers on distinct workers; claim latency alone and while 8 writers run; and what other workers and
    facilities wait while one application transaction holds a change of A (or F1) open for two seconds."""
    pairs = _writer_pairs(url, WRITERS)
    assert len(pairs) == WRITERS, "not enough active workers to give each writer its own"
    workers, plans, _ = _claim_plan(url, 2)
    out: dict = {"writers": WRITERS, "seconds": seconds, "rounds": rounds, "pairs": pairs}
    try:
        with psycopg.connect(url, autocommit=True) as conn:  # readers start from a view that knows the bench workers
            conn.execute("SELECT shifts.refresh_eligibility()")
        runs: dict[str, list[float]] = {"carepg_1": [], "carepg_8": [], "off_1": [], "off_8": []}
        for _ in range(rounds):  # alternate, so drift on a shared machine hits both sides alike
            for side in ("carepg", "off"):
                _carepg_triggers(url, side == "carepg")
                try:
                    runs[f"{side}_1"].append(_toggle_writes(url, pairs, 1, seconds))
                    runs[f"{side}_8"].append(_toggle_writes(url, pairs, WRITERS, seconds))
                finally:
                    _carepg_triggers(url, True)
        med = {k: statistics.median(v) for k, v in runs.items()}
        out["writes_per_s"] = runs
        out["median"] = med
        out["ratio_8_vs_off"] = med["carepg_8"] / med["off_8"]
        out["ratio_8_vs_1"] = med["carepg_8"] / med["carepg_1"]
        print(f"  document writes/s: carepg 1 writer {med['carepg_1']:,.0f}, 8 writers {med['carepg_8']:,.0f} "
              f"({out['ratio_8_vs_1']:.2f}x one); triggers off: 1 writer {med['off_1']:,.0f}, 8 writers "
              f"{med['off_8']:,.0f}; carepg / off with 8 writers {out['ratio_8_vs_off']:.2f}x", flush=True)

        # Claim latency, alone and while 8 writers run (the claimer is not one of the writers' workers).
        def claims_during(during) -> list[float]:
            stop = threading.Event()
            box: list[list[float]] = []
            t = threading.Thread(target=lambda: box.append(_claim_latencies(url, workers[0], plans[0], stop)))
            t.start()
            try:
                during()
            finally:
                stop.set()
                t.join()
            return box[0]
        alone = claims_during(lambda: time.sleep(seconds))
        loaded = claims_during(lambda: _toggle_writes(url, pairs, WRITERS, seconds))
        out["claims_alone"], out["claims_with_writers"] = _latency(alone), _latency(loaded)
        print(f"  claim latency: alone p50 {out['claims_alone']['p50']:.2f} ms p99 {out['claims_alone']['p99']:.2f} ms; "
              f"with {WRITERS} document writers p50 {out['claims_with_writers']['p50']:.2f} ms p99 "
              f"{out['claims_with_writers']['p99']:.2f} ms", flush=True)

        # One slow application transaction: each kind of change held open 2 s; what others wait meanwhile.
        with psycopg.connect(url, autocommit=True) as conn:
            a, b_worker = workers
            a_shift, b_shift = plans[0][0], plans[1][-1]
            f1, f2 = conn.execute('SELECT facility_id FROM "Shift" WHERE id = %s', (a_shift,)).fetchone()[0], None
            f2 = conn.execute('SELECT facility_id FROM "Shift" WHERE id = ANY (%s) AND facility_id <> %s LIMIT 1',
                              (plans[1], f1)).fetchone()[0]  # fmt: skip
            b_shift = conn.execute('SELECT id FROM "Shift" WHERE id = ANY (%s) AND facility_id = %s LIMIT 1',
                                   (plans[1], f2)).fetchone()[0]  # fmt: skip
            doc_b = conn.execute('SELECT id FROM "Document" ORDER BY id LIMIT 1').fetchone()[0]
            spare = conn.execute("INSERT INTO \"Document\" (name, is_active) VALUES ('carepg-bench spare', true) "
                                 "RETURNING id").fetchone()[0]
        holders = {
            "a document of worker A removed": f'DELETE FROM "DocumentWorker" WHERE worker_id = {a} '
                                              f'AND document_id = {doc_b}',
            "worker A deactivated": f'UPDATE "Worker" SET is_active = false WHERE id = {a}',
            "a requirement added at facility F1": f'INSERT INTO "FacilityRequirement" (facility_id, document_id) '
                                                  f'VALUES ({f1}, {spare})',
            "facility F1 deactivated": f'UPDATE "Facility" SET is_active = false WHERE id = {f1}',
            "worker A claiming a shift at F1": f"SELECT * FROM shifts.claim_shift({a}, {a_shift})",
        }
        probes = {
            "worker B claims a shift at F2": ("SELECT * FROM shifts.claim_shift(%s, %s)", (b_worker, b_shift)),
            "worker B releases it": ("SELECT shifts.release_shift(%s, %s)", (b_worker, b_shift)),
            "a document write for worker B": ('INSERT INTO "DocumentWorker" (worker_id, document_id) VALUES (%s, %s)',
                                              (b_worker, spare)),
            "a read for worker B": ("SELECT count(*) FROM shifts.available_shifts(%s)", (b_worker,)),
        }
        out["held_open"] = {}
        for name, holder in holders.items():
            out["held_open"][name] = _held_open(url, holder, probes, 2.0)
            with psycopg.connect(url, autocommit=True) as conn:  # the probes' document and claim, undone
                conn.execute('DELETE FROM "DocumentWorker" WHERE document_id = %s', (spare,))
        for name, waits in out["held_open"].items():
            print(f"  while {name} stays open 2 s: " + ", ".join(f"{k} {v:.1f} ms" for k, v in waits.items()),
                  flush=True)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute('DELETE FROM "Document" WHERE id = %s', (spare,))
    finally:
        _drop_claimers(url, workers)
        with psycopg.connect(url, autocommit=True) as conn:  # fold the writers' log, as pg_cron would have by now
            conn.execute("SELECT shifts.refresh_eligibility()")
    return out


def explain(url: str, w: dict) -> dict:
    """The plans inside the function (auto_explain, nested statements) for the first and the deep page."""
    plans = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("LOAD 'auto_explain'")
        for k, v in {"auto_explain.log_min_duration": "0", "auto_explain.log_analyze": "on",
                     "auto_explain.log_buffers": "on", "auto_explain.log_nested_statements": "on",
                     "auto_explain.log_timing": "on", "client_min_messages": "log",
                     "auto_explain.log_level": "notice"}.items():
            conn.execute(f"SET {k} = '{v}'")
        for name, after in (("first", None), ("deep", w["deep_after"])):
            notes: list[str] = []
            conn.add_notice_handler(lambda d, notes=notes: notes.append(d.message_primary))
            conn.execute(function_query(w["worker"], after)).fetchall()  # warm
            notes.clear()
            conn.execute(function_query(w["worker"], after)).fetchall()
            conn._notice_handlers.clear()  # noqa: SLF001
            # The RETURN QUERY statement's plan is the one with the Shift scan.
            hot = [n for n in notes if '"Shift"' in n and "Limit" in n]
            text = hot[-1] if hot else "\n\n".join(notes)
            lines = text.split("\n")
            # Drop the echoed statement text: the plan starts at the first unindented line after it.
            start = next((i for i, line in enumerate(lines) if i > 0 and line[:1] not in (" ", "")), 0)
            plans[name] = "\n".join(lines[start:])
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT s.indexrelname, s.idx_scan FROM pg_stat_user_indexes s WHERE s.indexrelname LIKE 'carepg%%' "
            "OR s.schemaname = 'shifts' ORDER BY 1").fetchall()
        plans["index_scans"] = {name: n for name, n in rows}
    return plans


def explain_naive(naive_url: str, w: dict) -> str:
    with psycopg.connect(naive_url, autocommit=True) as conn:
        rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + naive_query(w["worker"])).fetchall()
    return "\n".join(r[0] for r in rows)


def sizes(url: str) -> dict:
    with psycopg.connect(url, autocommit=True) as conn:
        total = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        rels = conn.execute(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = "
            "c.relnamespace WHERE n.nspname IN ('public', 'shifts') AND c.relkind IN ('r', 'm', 'i') "
            "ORDER BY 2 DESC LIMIT 14").fetchall()
        counts = dict(zip(("workers", "facilities", "documents", "requirements", "held", "shifts", "open_shifts",
                           "view_rows"), conn.execute(
            "SELECT (SELECT count(*) FROM \"Worker\"), (SELECT count(*) FROM \"Facility\"), "
            "(SELECT count(*) FROM \"Document\"), (SELECT count(*) FROM \"FacilityRequirement\"), "
            "(SELECT count(*) FROM \"DocumentWorker\"), (SELECT count(*) FROM \"Shift\"), "
            "(SELECT count(*) FROM \"Shift\" WHERE worker_id IS NULL AND NOT is_deleted), "
            "(SELECT count(*) FROM shifts_private.eligible_pair)").fetchone()))
    return {"database_bytes": total, "relations": rels, "counts": counts}


# --- report --------------------------------------------------------------------------------------------------


def tidy_plan(text: str, width: int = 240) -> str:
    """A plan for the report: without the echoed statement, long literals (a worker's claims) shortened."""
    lines = text.strip().split("\n")
    if any(line.startswith("Query Text:") for line in lines):
        at = next(i for i, line in enumerate(lines) if line.startswith("Query Text:"))
        end = next((i for i in range(at + 1, len(lines)) if lines[i][:1] not in (" ", "")), len(lines))
        lines = lines[:at] + lines[end:]
    lines = [line for line in lines if not line.startswith("duration:")]
    return "\n".join(line if len(line) <= width else line[:width] + " ..." for line in lines)


def mb(n: int) -> str:
    return f"{n / 1024 / 1024:,.0f} MB"


def write_report(r: dict, path: Path) -> None:
    m, p, w = r["machine"], r["pages"], r["worker"]
    L = [f"# carepg benchmark: profile `{r['profile']}`, {r['shifts']:,} shifts", "",
         f"Generated by `{r['command']}` on {m['date']} at commit `{m['git']}`. Do not edit: rerun the command.", "",
         "## Machine", "",
         f"- CPU: {m['cpu']}; memory {m['memory']}; kernel {m['kernel']}; PostgreSQL {m['postgres']}",
         "- server settings: " + ", ".join(f"`{k}={v}`" for k, v in sorted(m["settings"].items())),
         f"- load average when the run started: {' '.join(m['loadavg_at_start'])} (the machine is shared; client, "
         "server and any other work share the same cores)", "",
         "## Data", "",
         f"- seed: {r['seed'].get('seed_s', '?')} s (`carepg seed --profile {r['profile']} --shifts {r['shifts']}`, "
         "including ANALYZE and the view refresh)",
         f"- database size {mb(r['sizes']['database_bytes'])}; rows: " +
         ", ".join(f"{k} {v:,}" for k, v in r["sizes"]["counts"].items()), "",
         "| relation (with its indexes) | size |", "|---|---:|"]
    L += [f"| `{n}` | {mb(s)} |" for n, s in r["sizes"]["relations"]]
    L += ["", f"Measured worker: {w['worker']} ({w['total']:,} available shifts); deep page = the page after row "
          f"{w['total'] * 4 // 5:,} (keyset cursor `{w['deep_after']}`).", "",
          f"## Page latency (pgbench -M prepared, 1 client, {PAGE} rows)", "",
          "| query | function TPS | p50 | p99 | naive TPS | naive p50 | naive p99 | speed-up (p50) |",
          "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name in ("first", "deep"):
        f, n = p[name]["function"], p[name]["naive"]
        if n is None:
            L.append(f"| {name} page | {f['tps']:,.0f} | {f['p50']:.3f} ms | {f['p99']:.3f} ms | skipped | | | |")
            continue
        L.append(f"| {name} page | {f['tps']:,.0f} | {f['p50']:.3f} ms | {f['p99']:.3f} ms | {n['tps']:,.2f} | "
                 f"{n['p50']:,.1f} ms | {n['p99']:,.1f} ms | **{p[name]['ratio_p50']:,.0f}x** |")
    L += ["", f"Function: `{function_query(w['worker'])}` ({p['first']['function']['n']:,} transactions). "
          f"Naive: the query in `bench/bench.py` (`NAIVE`) on the twin database with primary keys only "
          + (f"({p['first']['naive']['n']} transactions)." if p["first"]["naive"] else "(skipped: --skip-naive)."),
          ""]
    wh = r["whole"]
    if wh["naive_s"] is None:
        L += ["## Whole answer streamed to the client", "",
              f"{wh['rows']:,} rows: function (keyset pages of 1000, each COPYed out) {wh['function_s']:.3f} s "
              f"(median of {wh['runs']}); the naive side was skipped (`--skip-naive`).", ""]
    else:
      L += ["## Whole answer streamed to the client", "",
          "| rows | function (keyset pages of 1000, each COPYed out) | naive (one query, COPYed out) | speed-up |",
          "|---:|---:|---:|---:|",
          f"| {wh['rows']:,} | {wh['function_s']:.3f} s | {wh['naive_s']:.3f} s | **{wh['ratio']:.1f}x** |",
          f"| database work only (`count(*)` over the same {wh['pages']} pages / the same query) | "
          f"{wh['function_db_s']:.3f} s | {wh['naive_db_s']:.3f} s | {wh['db_ratio']:.1f}x |", "",
          f"Median of {wh['runs']} runs each. Rows are sent with COPY and discarded, so the client's own cost "
          "(Python decoding) does not hide the database's; before timing, every column of every row of both "
          "answers was compared, in order (identical).", ""]
    mt = r["maintenance"]
    L += ["## Keeping eligibility exact: one document change", "",
          "One autocommit statement each: insert a document the worker did not hold, then delete it again, so "
          "each statement really changes what the worker holds (statement-level triggers lock the worker and log it)."
          + (f" Re-measured by `{r['maintenance_command']}` on {r['maintenance_date']}." if r.get("maintenance_command")
             else ""), "",
          "| database | statements | p50 | p99 | insert p99 | delete p99 | documents required by >= 10 % of "
          "facilities: n, p50 / p99 | the other documents: n, p50 / p99 |", "|---|---:|---:|---:|---:|---:|---:|---:|"]

    def split(v, side):
        return f"{v[side + '_n']:,}, {v[side + '_p50']:.2f} / {v[side + '_p99']:.2f} ms" if v[side + "_n"] else "-"
    for k in ("carepg", "no triggers (naive twin)"):
        v = mt[k]
        L.append(f"| {k} | {v['n']:,} | {v['p50']:.2f} ms | {v['p99']:.2f} ms | {v['insert_p99']:.2f} ms | "
                 f"{v['delete_p99']:.2f} ms | {split(v, 'wide')} | {split(v, 'narrow')} |")
    rf = r["refresh"]
    L += ["", f"Logged changes the view did not include yet afterwards (readers recheck them live until the next "
          f"refresh): {mt.get('unseen_after', mt.get('patches_after', 0)):,}.", "",
          "## Refresh of the eligible-pairs view", "",
          "| view rows | full | concurrent | reader first-page p50 / p99 / max, idle | during a concurrent refresh |",
          "|---:|---:|---:|---:|---:|",
          f"| {rf['view_rows']:,} | {rf['full_s']:.2f} s | {rf['concurrent_s']:.2f} s | "
          f"{rf['reader_baseline']['p50']:.2f} / {rf['reader_baseline']['p99']:.2f} / {rf['reader_baseline']['max']:.1f} ms | "
          f"{rf['reader_during']['p50']:.2f} / {rf['reader_during']['p99']:.2f} / {rf['reader_during']['max']:.1f} ms "
          f"({rf['reader_during']['n']:,} reads in {rf['concurrent_with_reader_s']:.2f} s) |", "",
          "Peak resident memory (VmHWM, shared buffers included) of the server's processes at the end of the "
          f"run: the largest of {r['memory'].get('processes', '?')} processes "
          f"{r['memory'].get('max_hwm_kb', 0) / 1024:,.0f} MB; the benchmark's own backend "
          f"{r['memory']['bench_backend_hwm_kb'] / 1024:,.0f} MB.", "",
          *claims_report(r), *contention_report(r), "## Plans", "", "The hot statement inside `shifts.available_shifts`, first page (auto_explain, ANALYZE, "
          "BUFFERS):", "", "```", tidy_plan(r["explain"]["first"]), "```", "", "Deep page:", "", "```",
          tidy_plan(r["explain"]["deep"]), "```", "", "The naive query, first page:", "", "```",
          tidy_plan(r["explain_naive"]),
          "```", "", "Index scans counted by `pg_stat_user_indexes` over the whole run (0 = unused):", "",
          "| index | scans |", "|---|---:|"]
    L += [f"| `{k}` | {v:,} |" for k, v in r["explain"]["index_scans"].items()]
    path.write_text("\n".join(L) + "\n")


def contention_report(r: dict) -> list[str]:
    c = r.get("contention")
    if not c:
        return []
    m = c["median"]
    rows = lambda k: " / ".join(f"{v:,.0f}" for v in c["writes_per_s"][k])  # noqa: E731
    probes = list(next(iter(c["held_open"].values())))
    return ["## The application's writes beside carepg", "",
            f"The application's own statements, as pgbench clients (`-M prepared`, autocommit): each writer toggles a "
            f"document of its own worker (insert it, delete it again: two writes). Same database, same statements, "
            f"carepg's triggers enabled, then disabled (`ALTER TABLE ... DISABLE TRIGGER carepg_eligibility_*`), "
            f"alternating, {c['rounds']} rounds of {c['seconds']:.0f} s; medians."
            + (f" Measured by `{r['contention_command']}` on {r['contention_date']} (load average when it ended: "
               f"{' '.join(r.get('contention_loadavg', []))})." if r.get("contention_command") else ""), "",
            "| writers | carepg's triggers on | off | on / off |", "|---:|---:|---:|---:|",
            f"| 1 | {m['carepg_1']:,.0f} writes/s ({rows('carepg_1')}) | {m['off_1']:,.0f} ({rows('off_1')}) | "
            f"{m['carepg_1'] / m['off_1']:.2f}x |",
            f"| {c['writers']} | {m['carepg_8']:,.0f} writes/s ({rows('carepg_8')}) | {m['off_8']:,.0f} ({rows('off_8')}) | "
            f"**{c['ratio_8_vs_off']:.2f}x** |", "",
            f"With carepg, {c['writers']} writers do **{c['ratio_8_vs_1']:.2f}x** what one does. A claim meanwhile "
            f"(another worker, claim then release, one connection): p50 {c['claims_with_writers']['p50']:.2f} ms, "
            f"**p99 {c['claims_with_writers']['p99']:.2f} ms** ({c['claims_with_writers']['n']:,} claims); alone p50 "
            f"{c['claims_alone']['p50']:.2f} ms, p99 {c['claims_alone']['p99']:.2f} ms.", "",
            "One application transaction holds a change open for 2 s; meanwhile, one after another, for other workers "
            "and another facility (milliseconds each took):", "",
            "| held open | " + " | ".join(probes) + " |", "|---|" + "---:|" * len(probes),
            *[f"| {name} | " + " | ".join(f"{waits[p]:.1f}" for p in probes) + " |"
              for name, waits in c["held_open"].items()], ""]


def claims_report(r: dict) -> list[str]:
    c = r.get("claims")
    if not c:
        return []
    s1, c16, f = c["single"], c["concurrent"], c["contended"]
    row = lambda v: f"{v['n']:,} | {v['p50']:.2f} ms | {v['p99']:.2f} ms | {v['max']:.1f} ms"  # noqa: E731
    return ["## The write path: claims", "",
            f"`shifts.claim_shift()` and `shifts.release_shift()`, one autocommit call each (READ COMMITTED, prepared, "
            f"on warm connections), timed around the call by the client; {c['claimers']} bench workers (CNA, every document) with "
            f"{c['per_claimer']} non-overlapping shifts each (one per day and start hour), none shared."
            + (f" Re-measured by `{r['claims_command']}` on {r['claims_date']} (load average when it ended: "
               f"{' '.join(r.get('claims_loadavg', []))})." if r.get("claims_command") else ""),
            "", "| claimers | call | calls | p50 | p99 | max | claims/s |", "|---|---|---:|---:|---:|---:|---:|",
            f"| 1 | claim | {row(s1['claim'])} | {s1['claims_per_s']:,.0f} |",
            f"| 1 | release | {row(s1['release'])} | |",
            f"| {c['claimers']} at once, distinct shifts | claim | {row(c16['claim'])} | {c16['claims_per_s']:,.0f} |",
            f"| {c['claimers']} at once, distinct shifts | release | {row(c16['release'])} | |", "",
            f"Contended: {c['claimers']} claimers for {f['seconds']:.0f} s on the same {c['hot_shifts']} shifts, each "
            f"win released at once: {f['attempts_per_s']:,.0f} claim attempts/s, {f['wins_per_s']:,.0f} wins/s "
            f"({f['wins']:,} wins, {f['taken']:,} CP409 taken), attempt latency p50 {f['attempt']['p50']:.2f} ms, "
            f"p99 {f['attempt']['p99']:.2f} ms."
            + (f" Meanwhile an eligibility writer (one document gained and lost, 5 ms apart, autocommit) ran "
               f"{c['writes_during_fight']['n']:,} statements: p50 {c['writes_during_fight']['p50']:.2f} ms, p99 "
               f"{c['writes_during_fight']['p99']:.2f} ms, max {c['writes_during_fight']['max']:.1f} ms (each waits for "
               "the claims in flight)." if c.get("writes_during_fight") else ""), ""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="challenge", choices=sorted(seed_mod.PROFILES))
    ap.add_argument("--shifts", type=int, default=None)
    ap.add_argument("--seed", type=int, default=seed_mod.DEFAULT_SEED)
    ap.add_argument("--seconds", type=float, default=10, help="pgbench duration per function query")
    ap.add_argument("--naive-tx", type=int, default=None, help="naive transactions per page (default: --seconds)")
    ap.add_argument("--changes", type=int, default=500, help="single-document changes (x2 statements)")
    ap.add_argument("--runs", type=int, default=3, help="whole-answer runs")
    ap.add_argument("--skip-naive", action="store_true", help="function only (the naive query takes ~90 s per "
                    "call at the large profile whatever the number of shifts: see PERFORMANCE.md)")
    ap.add_argument("--only-maintenance", action="store_true",
                    help="re-measure only the single-document changes and update the saved report")
    ap.add_argument("--only-contention", action="store_true",
                    help="only the host application's writes beside carepg (triggers on/off, 1 and 8 writers), claims "
                         "while they run, and what a held-open change makes others wait; merged into the saved report")
    ap.add_argument("--only-claims", action="store_true",
                    help="re-measure only the write path (claims) and update the saved report")
    ap.add_argument("--rewrite", metavar="JSON", help="only rewrite the markdown report from a saved .json")
    args = ap.parse_args()
    if args.only_maintenance:
        url = db.resolve_url(start=True)
        shifts = args.shifts or {"challenge": seed_mod.CHALLENGE_SHIFTS}.get(args.profile, 20_000_000)
        saved = RESULTS / f"{args.profile}-{shifts}.json"
        report = json.loads(saved.read_text())
        report["maintenance"] = bench_maintenance(url, ensure_naive_twin(url), args.changes)
        report["maintenance_command"] = "python bench/bench.py " + " ".join(sys.argv[1:])
        report["maintenance_date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        saved.write_text(json.dumps(report, indent=1, default=str))
        write_report(report, saved.with_suffix(".md"))
        return
    if args.only_contention:
        url = db.resolve_url(start=True)
        migrations.upgrade(url)
        shifts = args.shifts or {"challenge": seed_mod.CHALLENGE_SHIFTS}.get(args.profile, 20_000_000)
        ensure_seeded(url, args.profile, shifts, args.seed)
        saved = RESULTS / f"{args.profile}-{shifts}.json"
        report = json.loads(saved.read_text())
        report["contention"] = bench_contention(url, args.seconds)
        report["contention_command"] = "python bench/bench.py " + " ".join(sys.argv[1:])
        report["contention_date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        report["contention_loadavg"] = Path("/proc/loadavg").read_text().split()[:3]
        saved.write_text(json.dumps(report, indent=1, default=str))
        write_report(report, saved.with_suffix(".md"))
        return
    if args.only_claims:
        url = db.resolve_url(start=True)
        migrations.upgrade(url)
        shifts = args.shifts or {"challenge": seed_mod.CHALLENGE_SHIFTS}.get(args.profile, 20_000_000)
        ensure_seeded(url, args.profile, shifts, args.seed)
        saved = RESULTS / f"{args.profile}-{shifts}.json"
        report = json.loads(saved.read_text())
        report["claims"] = bench_claims(url, args.seconds)
        report["claims_command"] = "python bench/bench.py " + " ".join(sys.argv[1:])
        report["claims_date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        report["claims_loadavg"] = Path("/proc/loadavg").read_text().split()[:3]
        saved.write_text(json.dumps(report, indent=1, default=str))
        write_report(report, saved.with_suffix(".md"))
        return
    if args.rewrite:
        saved = Path(args.rewrite)
        write_report(json.loads(saved.read_text()), saved.with_suffix(".md"))
        return
    shifts = args.shifts or {"challenge": seed_mod.CHALLENGE_SHIFTS}.get(args.profile, 20_000_000)

    url = db.resolve_url(start=True)
    migrations.upgrade(url)
    report = {"profile": args.profile, "shifts": shifts,
              "command": "python bench/bench.py " + " ".join(sys.argv[1:])}
    report["seed"] = ensure_seeded(url, args.profile, shifts, args.seed)
    naive_url = ensure_naive_twin(url)
    page_naive_url = None if args.skip_naive else naive_url
    with psycopg.connect(url, autocommit=True) as conn:
        report["machine"] = machine_facts(conn)
        conn.execute("SELECT pg_stat_reset()")
        report["worker"] = w = pick_workers(conn, args.profile)
        print(f"worker {w['worker']}: {w['total']:,} shifts", flush=True)
        report["pages"] = bench_pages(url, page_naive_url, w, args.seconds, args.naive_tx)
        report["whole"] = bench_whole(url, page_naive_url, w["worker"], args.runs)
        report["maintenance"] = bench_maintenance(url, naive_url, args.changes)
        report["refresh"] = bench_refresh(url, w["worker"])
        report["claims"] = bench_claims(url, args.seconds)
        report["contention"] = bench_contention(url, args.seconds)
        report["explain"] = explain(url, w)
        report["explain_naive"] = explain_naive(naive_url, w) if page_naive_url else "(skipped: --skip-naive)"
        report["sizes"] = sizes(url)
        report["memory"] = server_memory(conn)
        report["memory"]["bench_backend_hwm_kb"] = vm_hwm_kb(conn.info.backend_pid)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"{args.profile}-{shifts}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=1, default=str))
    write_report(report, stem.with_suffix(".md"))
    print(f"wrote {stem.with_suffix('.md').relative_to(ROOT)}")


if __name__ == "__main__":
    main()
