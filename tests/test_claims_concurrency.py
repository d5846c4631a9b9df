"""The write path under real concurrency: many connections released together by a threading.Barrier, and races
pinned in one order or the other by holding a transaction open and watching the other side wait in
pg_stat_activity (no timing in the assertions: a side either is seen waiting for a lock or finishes first).

Each test here fails when the lock it is about is taken out of shifts.claim_shift() or of the eligibility
triggers. `make test` runs a few rounds; CAREPG_CLAIM_ROUNDS raises them for a long run.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import threading
import time

import psycopg
import pytest

import builders as b

ROUNDS = int(os.environ.get("CAREPG_CLAIM_ROUNDS", "1"))
T0 = b.T0
HOUR = dt.timedelta(hours=1)


def outcome(conn, sql: str, params) -> str:
    """'ok', or the SQLSTATE (with DETAIL for carepg's own) of what the statement raised."""
    try:
        cur = conn.execute(sql, params)
        if cur.description:
            cur.fetchall()
        return "ok"
    except psycopg.Error as err:
        if not conn.autocommit:
            conn.rollback()
        detail = err.diag.message_detail if (err.sqlstate or "").startswith("CP") else None
        return f"{err.sqlstate}:{detail}" if detail else str(err.sqlstate)


CLAIM = "SELECT * FROM shifts.claim_shift(%s, %s)"


def race(conns, work) -> list:
    """work(i, conn) on every connection at once (one thread each, released by one barrier); the results."""
    barrier = threading.Barrier(len(conns))
    results: list = [None] * len(conns)

    def run(i):
        barrier.wait()
        results[i] = work(i, conns[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(conns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    return results


@pytest.fixture
def connections(db_url):
    opened: list[psycopg.Connection] = []

    def make(n: int, *, autocommit: bool = True) -> list[psycopg.Connection]:
        new = [psycopg.connect(db_url, autocommit=autocommit) for _ in range(n)]
        opened.extend(new)
        return new

    yield make
    for c in opened:
        c.close()


@pytest.fixture
def market(db_url):
    """A facility requiring one document; 16 CNA workers holding it."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        doc = b.document(conn)
        fac = b.facility(conn, requires=[doc])
        workers = [b.worker(conn, holds=[doc]) for _ in range(16)]
        b.refresh(conn)
    return {"doc": doc, "fac": fac, "workers": workers, "url": db_url}


def test_sixteen_workers_claiming_one_shift_at_once_exactly_one_wins(market, connections):
    conns = connections(16)
    owner = connections(1)[0]
    for r in range(10 * ROUNDS):
        shift = b.shift(owner, market["fac"], start=T0 + r * 24 * HOUR)
        results = race(conns, lambda i, c: outcome(c, CLAIM, (market["workers"][i], shift)))
        winners = [i for i, res in enumerate(results) if res == "ok"]
        assert len(winners) == 1, results
        assert sorted(res for res in results if res != "ok") == ["CP409:taken"] * 15
        holder = owner.execute('SELECT worker_id FROM "Shift" WHERE id = %s', (shift,)).fetchone()[0]
        assert holder == market["workers"][winners[0]]


@pytest.mark.parametrize("phones", [2, 4])
def test_one_worker_claiming_overlapping_shifts_at_once_gets_at_most_one(market, connections, phones):
    conns = connections(phones)
    owner = connections(1)[0]
    worker = market["workers"][0]
    for r in range(20 * ROUNDS):
        # Shifts that all overlap each other (staggered by 30 minutes), claimed from several phones at once.
        start = T0 + r * 24 * HOUR
        shifts = [b.shift(owner, market["fac"], start=start + i * HOUR / 2) for i in range(phones)]
        results = race(conns, lambda i, c: outcome(c, CLAIM, (worker, shifts[i])))
        assert results.count("ok") == 1, results
        assert sorted(res for res in results if res != "ok") == ["CP409:overlap"] * (phones - 1)
        held = owner.execute('SELECT count(*) FROM "Shift" WHERE worker_id = %s AND start >= %s AND start < %s',
                             (worker, start, start + 24 * HOUR)).fetchone()[0]  # fmt: skip
        assert held == 1


def waits_for_a_lock(watcher, pid: int, done: threading.Event) -> bool:
    """True once the backend `pid` is seen waiting for a lock; False if its statement finishes first."""
    while not done.is_set():
        row = watcher.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
        if row and row[0] == "Lock":
            return True
        time.sleep(0.005)
    return False


def in_thread(fn) -> tuple[threading.Thread, threading.Event, list]:
    done, result = threading.Event(), []

    def run():
        try:
            result.append(fn())
        finally:
            done.set()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, done, result


# Changes that make the claim invalid, as the application makes them (its own statements on its own tables).
CHANGES = {
    "document removed": ('DELETE FROM "DocumentWorker" WHERE worker_id = {w}', "documents"),
    "requirement added": ('INSERT INTO "FacilityRequirement" (facility_id, document_id) VALUES ({f}, {extra})',
                          "documents"),
    "worker deactivated": ('UPDATE "Worker" SET is_active = false WHERE id = {w}', "worker_inactive"),
    "facility deactivated": ('UPDATE "Facility" SET is_active = false WHERE id = {f}', "facility_inactive"),
    "profession changed": ("""UPDATE "Worker" SET profession = 'RN' WHERE id = {w}""", "profession"),
    "shift deleted": ('UPDATE "Shift" SET is_deleted = true WHERE id = {s}', "shift_deleted"),
}


def change_sql(name: str, market, shift: int, extra: int) -> str:
    sql, _ = CHANGES[name]
    return sql.format(w=market["workers"][0], f=market["fac"], s=shift, extra=extra)


@pytest.mark.parametrize("change", CHANGES)
def test_a_change_racing_an_open_claim_waits_for_it(market, connections, change):
    """Claim first: until the claim commits, the change cannot commit; the claim is entirely before it."""
    claimer, changer, watcher = connections(1, autocommit=False) + connections(2)
    extra = b.document(watcher)
    shift = b.shift(watcher, market["fac"])
    assert outcome(claimer, CLAIM, (market["workers"][0], shift)) == "ok"  # not committed yet
    pid = changer.info.backend_pid
    thread, done, result = in_thread(lambda: outcome(changer, change_sql(change, market, shift, extra), ()))
    try:
        assert waits_for_a_lock(watcher, pid, done), f"{change} committed while a claim it invalidates was open"
    finally:
        claimer.commit()
        thread.join(30)
    assert result == ["ok"]
    assert watcher.execute('SELECT worker_id FROM "Shift" WHERE id = %s', (shift,)).fetchone()[0] == market["workers"][0]


@pytest.mark.parametrize("change", CHANGES)
def test_a_claim_racing_an_open_change_waits_and_is_then_refused(market, connections, change):
    """Change first: the claim waits for it to commit, then sees it and is refused (never decided on the state
    from before a change that commits first)."""
    changer, claimer, watcher = connections(1, autocommit=False) + connections(2)
    extra = b.document(watcher)
    shift = b.shift(watcher, market["fac"])
    assert outcome(changer, change_sql(change, market, shift, extra), ()) == "ok"  # not committed yet
    pid = claimer.info.backend_pid
    thread, done, result = in_thread(lambda: outcome(claimer, CLAIM, (market["workers"][0], shift)))
    try:
        assert waits_for_a_lock(watcher, pid, done), f"a claim went ahead while {change} was in flight: {result}"
    finally:
        changer.commit()
        thread.join(30)
    assert result == [f"CP403:{CHANGES[change][1]}"]
    assert watcher.execute('SELECT worker_id FROM "Shift" WHERE id = %s', (shift,)).fetchone()[0] is None


@pytest.mark.parametrize("change", CHANGES)
def test_claims_and_changes_released_together_never_fail_otherwise(market, connections, change):
    """Both sides at once, many rounds: the claim either wins (and the change waits for it) or is refused."""
    conns = connections(2)
    owner = connections(1)[0]
    seen = set()
    for r in range(10 * ROUNDS):
        worker = b.worker(owner, holds=[market["doc"]])
        fac = b.facility(owner, requires=[market["doc"]])
        shift = b.shift(owner, fac, start=T0 + r * 24 * HOUR)
        extra = b.document(owner)
        sql = CHANGES[change][0].format(w=worker, f=fac, s=shift, extra=extra)
        results = race(conns, lambda i, c: outcome(c, CLAIM, (worker, shift)) if i == 0 else outcome(c, sql, ()))
        assert results[1] == "ok"
        assert results[0] in ("ok", f"CP403:{CHANGES[change][1]}"), results
        holder = owner.execute('SELECT worker_id FROM "Shift" WHERE id = %s', (shift,)).fetchone()[0]
        assert holder == (worker if results[0] == "ok" else None)
        seen.add(results[0])
    assert seen  # (which side wins is up to the scheduler)


def test_a_facility_change_waiting_for_claims_is_not_overtaken_by_later_claims(market, connections):
    """Claims at a facility share its lock; a change to the facility waiting for it must go before the claims
    that come after it, or a steady stream of claims could hold a requirement change off for ever."""
    first, writer, later, watcher = connections(1, autocommit=False) + connections(3)
    w, other = market["workers"][0], market["workers"][1]
    s1, s2 = b.shift(watcher, market["fac"]), b.shift(watcher, market["fac"], start=T0 + 24 * HOUR)
    assert outcome(first, CLAIM, (w, s1)) == "ok"  # open: shares the facility's lock
    extra = b.document(watcher)
    write = in_thread(lambda: outcome(writer, 'INSERT INTO "FacilityRequirement" (facility_id, document_id) '
                                      "VALUES (%s, %s)", (market["fac"], extra)))  # fmt: skip
    claim = None
    try:
        assert waits_for_a_lock(watcher, writer.info.backend_pid, write[1])
        claim = in_thread(lambda: outcome(later, CLAIM, (other, s2)))
        assert waits_for_a_lock(watcher, later.info.backend_pid, claim[1]), "a later claim went ahead of the writer"
    finally:
        first.commit()
        write[0].join(30)
        if claim:
            claim[0].join(30)
    # The writer went first: the later claim then sees the new requirement, which nobody holds.
    assert write[2] == ["ok"] and claim[2] == ["CP403:documents"]


@pytest.mark.parametrize("rival", ["another worker, the same shift", "the same worker, an overlapping shift"])
def test_a_claim_racing_an_open_rival_claim_waits_and_is_then_refused(market, connections, rival):
    """Pinned: the first claim is made and not committed yet; the second must wait for it, then see it."""
    first, second, watcher = connections(1, autocommit=False) + connections(2)
    w, other = market["workers"][0], market["workers"][1]
    a = b.shift(watcher, market["fac"])
    if rival == "another worker, the same shift":
        target, expected = (other, a), "CP409:taken"
    else:
        target, expected = (w, b.shift(watcher, market["fac"], start=T0 + 2 * HOUR)), "CP409:overlap"
    assert outcome(first, CLAIM, (w, a)) == "ok"
    thread, done, result = in_thread(lambda: outcome(second, CLAIM, target))
    try:
        assert waits_for_a_lock(watcher, second.info.backend_pid, done), result
    finally:
        first.commit()
        thread.join(30)
    assert result == [expected]
    assert watcher.execute('SELECT count(*) FROM "Shift" WHERE worker_id IS NOT NULL').fetchone()[0] == 1


@pytest.mark.parametrize("level", [psycopg.IsolationLevel.REPEATABLE_READ, psycopg.IsolationLevel.SERIALIZABLE])
@pytest.mark.parametrize("race_with", ["overlapping claim by the same worker", "claim of the same shift",
                                       "document removed"])  # fmt: skip
def test_a_repeatable_read_claim_whose_snapshot_is_older_than_a_rival_gets_40001(market, connections, level,
                                                                                race_with):
    """Under REPEATABLE READ / SERIALIZABLE a claim cannot read the rival that committed after its snapshot;
    it must fail with a serialization failure (then a retry answers right), never decide on the old state."""
    late, rival, owner = connections(1, autocommit=False) + connections(2)
    late.isolation_level = level
    w, other = market["workers"][0], market["workers"][1]
    a = b.shift(owner, market["fac"])
    overlapping = b.shift(owner, market["fac"], start=T0 + 2 * HOUR)
    late.execute("SELECT 1").fetchone()  # the snapshot is taken here
    if race_with == "overlapping claim by the same worker":
        assert outcome(rival, CLAIM, (w, a)) == "ok"
        target, retry = overlapping, "CP409:overlap"
    elif race_with == "claim of the same shift":
        assert outcome(rival, CLAIM, (other, a)) == "ok"
        target, retry = a, "CP409:taken"
    else:
        rival.execute('DELETE FROM "DocumentWorker" WHERE worker_id = %s', (w,))
        target, retry = a, "CP403:documents"
    assert outcome(late, CLAIM, (w, target)) == "40001"
    late.rollback()
    assert outcome(late, CLAIM, (w, target)) == retry  # the retry, with a new snapshot
    late.rollback()


def test_mixed_load_never_deadlocks_and_never_double_books(db_url, connections):
    """Claims, releases, document and flag flips and refreshes, all at once on a small marketplace: no deadlock,
    no error but the documented refusals, and no worker ends up holding two overlapping shifts."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        docs = [b.document(conn) for _ in range(2)]
        facs = [b.facility(conn, requires=[docs[i % 2]]) for i in range(3)]
        workers = [b.worker(conn, holds=docs) for _ in range(4)]
        shifts = [b.shift(conn, facs[i % 3], start=T0 + i * HOUR, hours=3) for i in range(12)]
        b.refresh(conn)
    unexpected: list[str] = []
    allowed = {"ok", "CP409:taken", "CP409:overlap", "CP404", "CP403:documents", "CP403:worker_inactive",
               "CP403:facility_inactive"}  # fmt: skip

    def client(i, conn):
        rng = random.Random(i)
        for _ in range(150 * ROUNDS):
            w, s = rng.choice(workers), rng.choice(shifts)
            op = rng.random()
            if op < 0.45:
                res = outcome(conn, CLAIM, (w, s))
            elif op < 0.8:
                res = outcome(conn, "SELECT shifts.release_shift(%s, %s)", (w, s))
            elif op < 0.88:
                res = outcome(conn, 'DELETE FROM "DocumentWorker" WHERE id = (SELECT min(id) FROM "DocumentWorker"'
                                    " WHERE worker_id = %s)", (w,))  # fmt: skip
                outcome(conn, 'INSERT INTO "DocumentWorker" (worker_id, document_id) SELECT %s, unnest(%s::int[])',
                        (w, docs))
            elif op < 0.94:
                res = outcome(conn, 'UPDATE "Facility" SET is_active = NOT is_active WHERE id = %s',
                              (rng.choice(facs),))
            elif op < 0.98:
                res = outcome(conn, 'UPDATE "Worker" SET is_active = NOT is_active WHERE id = %s', (w,))
            else:
                res = outcome(conn, "SELECT shifts.refresh_eligibility(true)", ())
            if res not in allowed:
                unexpected.append(res)

    race(connections(6), client)
    assert unexpected == []
    with psycopg.connect(db_url) as conn:
        double = conn.execute(
            """SELECT a.id, b.id FROM "Shift" a JOIN "Shift" b ON a.worker_id = b.worker_id AND a.id < b.id
               WHERE NOT a.is_deleted AND NOT b.is_deleted
                 AND tsrange(a.start, a."end") && tsrange(b.start, b."end")""").fetchall()  # fmt: skip
    assert double == []
