"""The lock model, row by row (README, "Who waits for whom"): with one statement of each kind held open in a
transaction, which statements of other sessions wait for it and which go straight through.

A change waits only for what it can change: worker A's eligibility changes order with A's claims, releases and
other changes; facility F's changes with claims at F and other changes of F; readers and refreshes never wait.
Each pair below is checked on real connections by watching pg_stat_activity: a statement expected to wait must be
seen waiting for a lock (then the holder rolls back and it finishes), one expected not to wait must finish while
the holder is still open. CAREPG_CLAIM_ROUNDS repeats the whole matrix on fresh data.
"""

from __future__ import annotations

import datetime as dt
import os
import threading

import psycopg
import pytest

import builders as b
from test_claims_concurrency import in_thread, outcome, waits_for_a_lock

ROUNDS = int(os.environ.get("CAREPG_CLAIM_ROUNDS", "1"))
HOUR = dt.timedelta(hours=1)


def marketplace(conn: psycopg.Connection, day: int) -> dict:
    """Two facilities F1, F2 requiring document D; workers A and B holding D; open shifts for each worker at each
    facility (none overlapping), one shift each holds; a spare document E nobody holds."""
    d, e = b.document(conn), b.document(conn)
    f1, f2 = b.facility(conn, requires=[d]), b.facility(conn, requires=[d])
    a, w_b = b.worker(conn, holds=[d]), b.worker(conn, holds=[d])
    start = b.T0 + dt.timedelta(days=day)
    m = {"D": d, "E": e, "F1": f1, "F2": f2, "A": a, "B": w_b}
    for i, (who, fac) in enumerate([("A", "F1"), ("A", "F2"), ("B", "F1"), ("B", "F2")]):
        m[f"S_{who}{fac}"] = b.shift(conn, m[fac], start=start + i * 6 * HOUR, hours=2)
    m["S_A_held"] = b.shift(conn, f2, start=start + 30 * HOUR, hours=2, claimed_by=a)
    m["S_B_held"] = b.shift(conn, f1, start=start + 36 * HOUR, hours=2, claimed_by=w_b)
    b.refresh(conn)
    return m


# What the open transaction did (the lock holder), as the application or an API client would do it.
HOLDERS = {
    "document of A added": ('INSERT INTO "DocumentWorker" (worker_id, document_id) VALUES ({A}, {E})', "worker A"),
    "document of A removed": ('DELETE FROM "DocumentWorker" WHERE worker_id = {A}', "worker A"),
    "A deactivated": ('UPDATE "Worker" SET is_active = false WHERE id = {A}', "worker A"),
    "A's profession changed": ("""UPDATE "Worker" SET profession = 'RN' WHERE id = {A}""", "worker A"),
    "requirement added at F1": ('INSERT INTO "FacilityRequirement" (facility_id, document_id) VALUES ({F1}, {E})',
                                "facility F1"),  # fmt: skip
    "requirements of F1 removed": ('DELETE FROM "FacilityRequirement" WHERE facility_id = {F1}', "facility F1"),
    "F1 deactivated": ('UPDATE "Facility" SET is_active = false WHERE id = {F1}', "facility F1"),
    "claim by A at F1": ("SELECT * FROM shifts.claim_shift({A}, {S_AF1})", "worker A, facility F1 shared"),
    "release by A": ("SELECT shifts.release_shift({A}, {S_A_held})", "worker A"),
}

# What another session tries meanwhile, and the keys it needs.
OTHERS = {
    "claim by B at F2": ("SELECT * FROM shifts.claim_shift({B}, {S_BF2})", {"worker B", "facility F2 shared"}),
    "claim by B at F1": ("SELECT * FROM shifts.claim_shift({B}, {S_BF1})", {"worker B", "facility F1 shared"}),
    "claim by A at F2": ("SELECT * FROM shifts.claim_shift({A}, {S_AF2})", {"worker A", "facility F2 shared"}),
    "release by B": ("SELECT shifts.release_shift({B}, {S_B_held})", {"worker B"}),
    "document of B written": ('INSERT INTO "DocumentWorker" (worker_id, document_id) VALUES ({B}, {E})', {"worker B"}),
    "document of A written": ('INSERT INTO "DocumentWorker" (worker_id, document_id) VALUES ({A}, {D})', {"worker A"}),
    "B deactivated": ('UPDATE "Worker" SET is_active = false WHERE id = {B}', {"worker B"}),
    "requirement added at F2": ('INSERT INTO "FacilityRequirement" (facility_id, document_id) VALUES ({F2}, {E})',
                                {"facility F2"}),  # fmt: skip
    "requirement added at F1": ('INSERT INTO "FacilityRequirement" (facility_id, document_id) VALUES ({F1}, {D})',
                                {"facility F1"}),  # fmt: skip
    "F2 deactivated": ('UPDATE "Facility" SET is_active = false WHERE id = {F2}', {"facility F2"}),
    "new worker": ("""INSERT INTO "Worker" (name, is_active, profession) VALUES ('n', true, 'CNA')""", set()),
    "new facility": ("""INSERT INTO "Facility" (name, is_active) VALUES ('n', true)""", set()),
    "read for A": ("SELECT count(*) FROM shifts.available_shifts({A})", set()),
    "read for B": ("SELECT count(*) FROM shifts.available_shifts({B})", set()),
    "count for A": ("SELECT shifts.count_available_shifts({A})", set()),
    "A's claims listed": ("SELECT count(*) FROM shifts.claimed_shifts({A})", set()),
    "refresh": ("SELECT shifts.refresh_eligibility()", set()),
}


def conflicts(held: str, wanted: set[str]) -> bool:
    """The model: the same worker's key always conflicts; a facility's key conflicts unless both only share it."""
    for key in held.split(", "):
        shared = key.endswith(" shared")
        name = key.removesuffix(" shared")
        for other in wanted:
            other_shared = other.endswith(" shared")
            if other.removesuffix(" shared") == name and not (shared and other_shared):
                return True
    return False


def test_the_model_table_is_what_the_readme_says():
    """The expectations below are derived from one rule; spot-check it against the README's table."""
    assert conflicts("worker A", {"worker A", "facility F2 shared"})
    assert not conflicts("worker A", {"worker B", "facility F1 shared"})
    assert conflicts("facility F1", {"worker B", "facility F1 shared"})
    assert not conflicts("worker A, facility F1 shared", {"worker B", "facility F1 shared"})
    assert conflicts("worker A, facility F1 shared", {"facility F1"})
    assert not conflicts("facility F1", {"facility F2"}) and not conflicts("worker A", set())


@pytest.mark.slow
def test_each_statement_waits_exactly_for_the_keys_it_shares(db_url):
    with psycopg.connect(db_url, autocommit=True) as setup:
        markets = [marketplace(setup, day=10 * r) for r in range(ROUNDS)]
    holder = psycopg.connect(db_url)  # a transaction: what it does stays open
    other = psycopg.connect(db_url, autocommit=True)
    watcher = psycopg.connect(db_url, autocommit=True)
    wrong: list[str] = []
    try:
        for m in markets:
            for held_name, (held_sql, held_keys) in HOLDERS.items():
                for other_name, (other_sql, wanted) in OTHERS.items():
                    assert outcome(holder, held_sql.format(**m), ()) == "ok", held_name
                    thread, done, result = in_thread(lambda: outcome(other, other_sql.format(**m), ()))
                    try:
                        waited = waits_for_a_lock(watcher, other.info.backend_pid, done)
                    finally:
                        holder.rollback()
                        thread.join(30)
                    expected = conflicts(held_keys, wanted)
                    if waited != expected:
                        wrong.append(f"{other_name!r} while {held_name!r} is open: "
                                     f"{'waited' if waited else 'did not wait'}, the model says it "
                                     f"{'waits' if expected else 'does not'}")  # fmt: skip
                    # Undo what the other statement committed, so every pair starts from the same state.
                    _restore(watcher, m)
    finally:
        for c in (holder, other, watcher):
            c.close()
    assert wrong == []


def _restore(conn: psycopg.Connection, m: dict) -> None:
    conn.execute('DELETE FROM "DocumentWorker" WHERE (worker_id = %(A)s OR worker_id = %(B)s) AND document_id = %(E)s',
                 m)  # fmt: skip
    conn.execute('DELETE FROM "DocumentWorker" WHERE id IN (SELECT id FROM "DocumentWorker" WHERE worker_id = %(A)s '
                 "AND document_id = %(D)s OFFSET 1)", m)  # fmt: skip
    conn.execute('DELETE FROM "FacilityRequirement" WHERE document_id = %(E)s OR (facility_id = %(F1)s AND id IN '
                 '(SELECT id FROM "FacilityRequirement" WHERE facility_id = %(F1)s AND document_id = %(D)s OFFSET 1))',
                 m)  # fmt: skip
    conn.execute('UPDATE "Worker" SET is_active = true WHERE id IN (%(A)s, %(B)s)', m)
    conn.execute('UPDATE "Facility" SET is_active = true WHERE id IN (%(F1)s, %(F2)s)', m)
    conn.execute('UPDATE "Shift" SET worker_id = NULL WHERE id IN (%(S_AF1)s, %(S_AF2)s, %(S_BF1)s, %(S_BF2)s)', m)
    conn.execute('UPDATE "Shift" SET worker_id = %(A)s WHERE id = %(S_A_held)s', m)
    conn.execute('UPDATE "Shift" SET worker_id = %(B)s WHERE id = %(S_B_held)s', m)


@pytest.mark.slow
def test_bulk_statements_lock_in_one_order_and_stay_small_in_the_lock_table(db_url):
    """One statement changing ten thousand workers' documents, and a facility's requirements replaced, while claims
    of those workers at that facility run from several sessions: no deadlock, no error but the documented
    refusals, and the bulk transaction holds a handful of entries in the lock table (row locks live in the rows)."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        d, e = b.document(conn), b.document(conn)
        fac = b.facility(conn, requires=[d])
        conn.execute("""INSERT INTO "Worker" (name, is_active, profession)
                        SELECT 'bulk', true, 'CNA' FROM generate_series(1, 10000)""")
        workers = [r[0] for r in conn.execute("""SELECT id FROM "Worker" WHERE name = 'bulk' ORDER BY id""")]
        conn.execute('INSERT INTO "DocumentWorker" (worker_id, document_id) SELECT unnest(%s::int[]), %s', (workers, d))
        claimers = workers[::500]
        shifts = {w: b.shift(conn, fac, start=b.T0 + i * 6 * HOUR, hours=2) for i, w in enumerate(claimers)}
        b.refresh(conn)

    results: list[str] = []
    stop = threading.Event()

    def claim_loop(chunk: list[int]) -> None:
        with psycopg.connect(db_url, autocommit=True) as c:
            while not stop.is_set():
                for w in reversed(chunk):  # the other order from the bulk statement's
                    results.append(outcome(c, "SELECT * FROM shifts.claim_shift(%s, %s)", (w, shifts[w])))
                    results.append(outcome(c, "SELECT shifts.release_shift(%s, %s)", (w, shifts[w])))

    threads = [threading.Thread(target=claim_loop, args=(claimers[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    try:
        with psycopg.connect(db_url) as bulk:
            for _ in range(3):
                bulk.execute('INSERT INTO "DocumentWorker" (worker_id, document_id) SELECT unnest(%s::int[]), %s',
                             (workers, e))  # fmt: skip
                held = bulk.execute("SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid()").fetchone()[0]
                assert held < 64, f"a bulk statement holds {held} lock table entries"
                bulk.execute('DELETE FROM "DocumentWorker" WHERE document_id = %s', (e,))
                bulk.commit()
                # A facility's requirements replaced in one transaction.
                bulk.execute('DELETE FROM "FacilityRequirement" WHERE facility_id = %s', (fac,))
                bulk.execute('INSERT INTO "FacilityRequirement" (facility_id, document_id) VALUES (%s, %s), (%s, %s)',
                             (fac, d, fac, e))  # fmt: skip
                bulk.execute('DELETE FROM "FacilityRequirement" WHERE facility_id = %s AND document_id = %s', (fac, e))
                bulk.commit()
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert results
    allowed = {"ok", "CP403:documents", "CP404"}
    assert set(results) <= allowed, sorted(set(results) - allowed)
