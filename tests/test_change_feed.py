"""The push feed (shifts.available_shift_changes): a subscriber that reads the shifts once and then applies the
changes, in order, holds exactly what available_shifts() returns, after every kind of change.

The property test drives the same random marketplaces and mutations as the freshness tests; after each mutation
every subscriber (every worker, with and without a window, alone and through the batch function) reads the
changes since its cursor, applies them ('available' adds or updates, 'unavailable' removes, 'reset' refetches)
and must equal the function. The pinned tests below name each kind of change and the events it must (and must
not) produce.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings

import builders as b
from test_freshness import T0, apply, build, mutation_sequences, world_spec

EXAMPLES = int(os.environ.get("CAREPG_HYPOTHESIS_EXAMPLES", "30"))
FEED = "SELECT change, shift_id, start, cursor FROM shifts.available_shift_changes(%s, %s, %s, %s)"


class Subscriber:
    """What a client of the feed holds: a set of shift ids, refetched on 'reset'."""

    def __init__(self, conn, worker_id: int, start_from=None, start_to=None):
        self.conn, self.worker_id, self.window = conn, worker_id, (start_from, start_to)
        self.cursor = self.changes(None)[-1][3]  # start here, then read the shifts
        self.shifts = self.fetch()
        self.resets = 0

    def fetch(self) -> set[int]:
        rows = self.conn.execute("SELECT shift_id FROM shifts.available_shifts(%s, %s, %s, max_rows => 1000)",
                                 (self.worker_id, *self.window)).fetchall()  # fmt: skip
        return {r[0] for r in rows}

    def changes(self, cursor):
        return self.conn.execute(FEED, (self.worker_id, cursor, *self.window)).fetchall()

    def catch_up(self) -> list[tuple]:
        rows = self.changes(self.cursor)
        assert rows[-1][0] == "cursor" and all(r[3] == rows[-1][3] for r in rows)
        self.apply(rows[:-1])
        self.cursor = rows[-1][3]
        return rows[:-1]

    def apply(self, events) -> None:
        for change, shift_id, _start, _cursor in events:
            if change == "reset":
                self.resets += 1
                self.shifts = self.fetch()
            elif change == "available":
                self.shifts.add(shift_id)
            else:
                assert change == "unavailable", change
                self.shifts.discard(shift_id)


def batch_catch_up(conn, subs: list[Subscriber], cursor: str) -> str:
    """All subscribers at one cursor, through the batch function (what carepg serve does)."""
    rows = conn.execute(
        "SELECT subscriber, change, shift_id, start, cursor FROM shifts.available_shift_changes_for(%s, %s, %s, %s)",
        ([s.worker_id for s in subs], [s.window[0] for s in subs], [s.window[1] for s in subs], cursor),
    ).fetchall()
    assert rows[-1][1] == "cursor" and rows[-1][0] is None
    for i, s in enumerate(subs, start=1):
        s.apply([(c, sid, st, cur) for n, c, sid, st, cur in rows[:-1] if n == i])
    return rows[-1][4]


def relay_catch_up(conn, subs: list[Subscriber], cursor: str) -> str:
    """What carepg serve's relay does: ask whether anything since the cursor may concern its subscribers' workers,
    and read the feed only then; otherwise move to the cursor it is given, which must be what a read would do."""
    moved = conn.execute("SELECT shifts.cursor_past_unrelated_changes(%s, %s)",
                         (cursor, sorted({s.worker_id for s in subs}))).fetchone()[0]  # fmt: skip
    if moved is None:
        return batch_catch_up(conn, subs, cursor)
    would_read = conn.execute("SELECT change FROM shifts.available_shift_changes_for(%s, %s, %s, %s)",
                              ([s.worker_id for s in subs], [s.window[0] for s in subs],
                               [s.window[1] for s in subs], cursor)).fetchall()  # fmt: skip
    assert [c for (c,) in would_read] == ["cursor"], "a change passed over would have given events"
    return moved


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=world_spec, mutations=mutation_sequences())
def test_a_subscriber_holds_exactly_what_available_shifts_returns_after_every_change(db_url, spec, mutations):
    with psycopg.connect(db_url, autocommit=True) as conn:
        build(conn, spec)
        window = (T0 + dt.timedelta(hours=3), T0 + dt.timedelta(hours=8))
        workers = [r[0] for r in conn.execute('SELECT id FROM "Worker" ORDER BY id')]
        alone = [Subscriber(conn, w) for w in workers] + [Subscriber(conn, w, *window) for w in workers]
        together = [Subscriber(conn, w) for w in workers] + [Subscriber(conn, w, *window) for w in workers]
        # A relay's subscribers: some workers only, so that the others' changes are passed over.
        relayed = [Subscriber(conn, w) for w in workers[::2]] + [Subscriber(conn, w, *window) for w in workers[1::3]]
        shared_cursor = conn.execute("SELECT cursor FROM shifts.available_shift_changes_for('{}', '{}', '{}', NULL)"
                                     ).fetchone()[0]
        relay_cursor = shared_cursor
        for s in together + relayed:
            s.shifts = s.fetch()
        for op in mutations:
            apply(conn, op)
            for s in alone:
                s.catch_up()
                assert s.shifts == s.fetch(), f"worker {s.worker_id} {s.window} after {op}"
            shared_cursor = batch_catch_up(conn, together, shared_cursor)
            for s in together:
                assert s.shifts == s.fetch(), f"worker {s.worker_id} {s.window} after {op} (batch)"
            relay_cursor = relay_catch_up(conn, relayed, relay_cursor)
            for s in relayed:
                assert s.shifts == s.fetch(), f"worker {s.worker_id} {s.window} after {op} (relay)"


@pytest.fixture
def market(db_url):
    """Facilities F1 (requires D) and F2 (requires nothing); a CNA worker W holding D, an RN worker R; one open
    CNA shift at each facility."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        d, e = b.document(conn), b.document(conn)
        f1, f2 = b.facility(conn, requires=[d]), b.facility(conn)
        w, other, rn = b.worker(conn, holds=[d]), b.worker(conn, holds=[d]), b.worker(conn, profession="RN")
        s1, s2 = b.shift(conn, f1), b.shift(conn, f2, start=T0 + dt.timedelta(hours=8))
        b.refresh(conn)
        yield {"conn": conn, "D": d, "E": e, "F1": f1, "F2": f2, "W": w, "other": other, "RN": rn, "S1": s1, "S2": s2}


def events_after(m, sql: str, params=(), worker: str = "W") -> list[tuple[str, int | None]]:
    sub = Subscriber(m["conn"], m[worker])
    m["conn"].execute(sql, params)
    got = [(c, s) for c, s, _, _ in sub.catch_up()]
    assert sub.shifts == sub.fetch()
    return got


def test_a_new_shift_of_the_workers_profession_is_available(market):
    got = events_after(market, 'INSERT INTO "Shift" (start, "end", profession, facility_id) VALUES (%s, %s, %s, %s) '
                       "RETURNING id", (T0 + dt.timedelta(days=1), T0 + dt.timedelta(days=1, hours=5), "CNA",
                                        market["F2"]))  # fmt: skip
    assert [c for c, _ in got] == ["available"]


def test_a_new_shift_of_another_profession_is_no_event(market):
    assert events_after(market, 'INSERT INTO "Shift" (start, "end", profession, facility_id) VALUES (%s, %s, %s, %s)',
                        (T0, T0 + dt.timedelta(hours=5), "LVN", market["F2"])) == []  # fmt: skip


def test_a_shift_claimed_by_another_worker_is_unavailable_and_available_again_when_released(market):
    m = market
    assert events_after(m, "SELECT shifts.claim_shift(%s, %s)", (m["other"], m["S1"])) == [("unavailable", m["S1"])]
    assert events_after(m, "SELECT shifts.release_shift(%s, %s)", (m["other"], m["S1"])) == [("available", m["S1"])]


def test_a_deleted_shift_is_unavailable(market):
    m = market
    assert events_after(m, 'UPDATE "Shift" SET is_deleted = true WHERE id = %s', (m["S2"],)) == [("unavailable", m["S2"])]
    assert events_after(m, 'DELETE FROM "Shift" WHERE id = %s', (m["S1"],)) == [("unavailable", m["S1"])]


@pytest.mark.parametrize(("change", "expected"), [
    ('DELETE FROM "DocumentWorker" WHERE worker_id = {W}', ["reset"]),
    ('INSERT INTO "DocumentWorker" (worker_id, document_id) VALUES ({W}, {E})', ["reset"]),
    ('UPDATE "Worker" SET is_active = false WHERE id = {W}', ["reset"]),
    ("""UPDATE "Worker" SET profession = 'RN' WHERE id = {W}""", ["reset"]),
    ("SELECT shifts.claim_shift({W}, {S1})", ["reset"]),  # its own claim hides what it overlaps
    ('INSERT INTO "FacilityRequirement" (facility_id, document_id) VALUES ({F1}, {E})', ["reset"]),  # W lacks E
    ('INSERT INTO "FacilityRequirement" (facility_id, document_id) VALUES ({F2}, {D})', []),  # W holds D: no flip
    ('DELETE FROM "FacilityRequirement" WHERE facility_id = {F1}', []),  # W was eligible and still is
    ('UPDATE "Facility" SET is_active = false WHERE id = {F1}', ["reset"]),
    ("SELECT shifts.refresh_eligibility()", []),
    ('TRUNCATE "FacilityRequirement"', ["reset"]),
    ('UPDATE "Worker" SET is_active = false WHERE id = {other}', []),
    ('UPDATE "Worker" SET name = name || \'x\' WHERE id = {W}', []),
])  # fmt: skip
def test_each_kind_of_change_gives_the_events_it_should(market, change, expected):
    m = market
    assert [c for c, _ in events_after(m, change.format(**m))] == expected


def test_a_document_removed_and_added_again_resets_twice_and_ends_where_it_began(market):
    m = market
    sub = Subscriber(m["conn"], m["W"])
    before = set(sub.shifts)
    m["conn"].execute('DELETE FROM "DocumentWorker" WHERE worker_id = %s', (m["W"],))
    sub.catch_up()
    assert sub.shifts == {m["S2"]}
    m["conn"].execute('INSERT INTO "DocumentWorker" (worker_id, document_id) VALUES (%s, %s)', (m["W"], m["D"]))
    sub.catch_up()
    assert sub.shifts == before and sub.resets == 2


def test_a_statement_changing_many_shifts_is_one_reset(market):
    m = market
    got = events_after(m, 'INSERT INTO "Shift" (start, "end", profession, facility_id) '
                          "SELECT %s + n * interval '1 hour', %s + n * interval '1 hour' + interval '2 hours', 'CNA', %s "
                          "FROM generate_series(1, 1001) AS n", (T0, T0, m["F2"]))  # fmt: skip
    assert got == [("reset", None)]


def test_a_cursor_older_than_the_log_keeps_is_a_reset(market):
    m = market
    sub = Subscriber(m["conn"], m["W"])
    m["conn"].execute('UPDATE "Shift" SET is_deleted = true WHERE id = %s', (m["S2"],))
    # Pretend the retention passed: the rows are folded into the view and pruned.
    m["conn"].execute("UPDATE shifts_private.change_log SET logged_at = logged_at - interval '1 hour'")
    m["conn"].execute("SELECT shifts.refresh_eligibility()")
    assert [c for c, _, _, _ in sub.catch_up()] == ["reset"]
    assert sub.shifts == sub.fetch()


def test_only_the_subscribers_window_hears_of_a_shift(market):
    m = market
    late = Subscriber(m["conn"], m["W"], T0 + dt.timedelta(days=2), T0 + dt.timedelta(days=3))
    m["conn"].execute('UPDATE "Shift" SET is_deleted = true WHERE id = %s', (m["S1"],))
    assert late.catch_up() == []
    # A shift moved into the window is heard of, and out of it too.
    m["conn"].execute('UPDATE "Shift" SET start = %s, "end" = %s WHERE id = %s',
                      (T0 + dt.timedelta(days=2), T0 + dt.timedelta(days=2, hours=5), m["S2"]))  # fmt: skip
    assert [(c, s) for c, s, _, _ in late.catch_up()] == [("available", m["S2"])]
    m["conn"].execute('UPDATE "Shift" SET start = %s, "end" = %s WHERE id = %s',
                      (T0, T0 + dt.timedelta(hours=5), m["S2"]))  # fmt: skip
    assert [(c, s) for c, s, _, _ in late.catch_up()] == [("unavailable", m["S2"])]
    assert late.shifts == late.fetch() == set()


def test_a_change_is_sent_once_its_transaction_commits(db_url, market):
    m = market
    sub = Subscriber(m["conn"], m["W"])
    with psycopg.connect(db_url) as writer:
        writer.execute('UPDATE "Shift" SET is_deleted = true WHERE id = %s', (m["S2"],))
        assert sub.catch_up() == []  # in flight: nothing yet, and the cursor remembers it
        writer.commit()
    assert [(c, s) for c, s, _, _ in sub.catch_up()] == [("unavailable", m["S2"])]
    assert sub.catch_up() == []  # exactly once


@pytest.mark.parametrize("cursor", ["", "abc", "-1", "12-", "12-13", "12-5.5", "12-7.5", "1" * 20, "12-" + ".".join(["1"] * 1001),
                                    "99999999999999", "12 ", "１２"])
def test_a_malformed_cursor_is_a_clear_refusal(market, cursor):
    with pytest.raises(psycopg.Error) as raised:
        market["conn"].execute(FEED, (market["W"], cursor, None, None))
    assert raised.value.sqlstate == "CP400" and "cursor" in raised.value.diag.message_primary


def test_an_unknown_worker_is_not_found_and_the_batch_resets_it(market):
    with pytest.raises(psycopg.Error) as raised:
        market["conn"].execute(FEED, (2_000_000_000, None, None, None))
    assert raised.value.sqlstate == "CP404"
    cursor = market["conn"].execute("SELECT cursor FROM shifts.available_shift_changes(%s)", (market["W"],)).fetchone()[0]
    market["conn"].execute('UPDATE "Shift" SET is_deleted = true WHERE id = %s', (market["S2"],))
    rows = market["conn"].execute("SELECT subscriber, change FROM shifts.available_shift_changes_for(%s, %s, %s, %s)",
                                  ([2_000_000_000, market["W"]], [None, None], [None, None], cursor)).fetchall()
    assert rows == [(1, "reset"), (2, "unavailable"), (None, "cursor")]


@pytest.mark.parametrize("plan_cache_mode", ["auto", "force_generic_plan", "force_custom_plan"])
def test_a_long_log_is_read_by_index_whatever_the_plan(market, plan_cache_mode):
    """The poller's probe, the feed and the read path find the unseen rows of a log holding a busy quarter hour
    (folded rows, kept for late cursors) through its indexes, never by reading it all: under generic plans an
    "EXISTS (... xid >= $1 ...)" is a scan of the whole log hoping for an early match."""
    m, conn = market, market["conn"]
    conn.execute("INSERT INTO shifts_private.change_log (xid, kind, worker_id, shift_id) "
                 "SELECT (3 + n %% greatest(pg_snapshot_xmin(pg_current_snapshot())::text::bigint - 3, 1))::text::xid8, "
                 "'shift', %s, %s FROM generate_series(1, 200000) AS n", (m["other"], m["S1"]))  # fmt: skip
    conn.execute("ANALYZE shifts_private.change_log")
    cursor = conn.execute("SELECT cursor FROM shifts.available_shift_changes(%s)", (m["W"],)).fetchone()[0]
    # The xact counters also hold what earlier transactions of this session have not flushed yet: count a delta.
    seq_scans = "SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relid = 'shifts_private.change_log'::regclass"
    with conn.transaction():
        conn.execute("SELECT set_config('plan_cache_mode', %s, true)", (plan_cache_mode,))
        before = conn.execute(seq_scans).fetchone()[0]
        for _ in range(8):  # past the five custom plans after which PostgreSQL may settle on the generic one
            assert conn.execute("SELECT shifts.shift_changes_since(%s)", (cursor,)).fetchone()[0] is False
            assert conn.execute("SELECT count(*) FROM shifts.available_shift_changes(%s, %s)",
                                (m["W"], cursor)).fetchone()[0] == 1  # fmt: skip
            assert conn.execute("SELECT count(*) FROM shifts.available_shifts(%s)", (m["W"],)).fetchone()[0] == 2
        assert conn.execute(seq_scans).fetchone()[0] - before == 0


UNRELATED = "SELECT shifts.cursor_past_unrelated_changes(%s, %s)"


def test_a_relay_passes_over_other_workers_changes_and_reads_its_own(market):
    """cursor_past_unrelated_changes: nothing logged is the same cursor; another worker's document change is a later
    cursor with nothing for the subscriber in between; the subscriber's own change, a new shift or a requirement
    change is NULL (read the feed)."""
    m, conn = market, market["conn"]
    start = Subscriber(conn, m["W"]).cursor
    assert conn.execute(UNRELATED, (start, [m["W"]])).fetchone()[0] == start
    conn.execute('DELETE FROM "DocumentWorker" WHERE worker_id = %s AND document_id = %s', (m["other"], m["D"]))
    moved = conn.execute(UNRELATED, (start, [m["W"]])).fetchone()[0]
    assert moved is not None and moved != start
    assert [r[0] for r in conn.execute(FEED, (m["W"], start, None, None))] == ["cursor"]
    assert conn.execute(UNRELATED, (start, [m["W"], m["other"]])).fetchone()[0] is None  # the other's own change
    for concerning in (
        ('DELETE FROM "DocumentWorker" WHERE worker_id = %s AND document_id = %s', (m["W"], m["D"])),
        ('INSERT INTO "Shift" (start, "end", profession, facility_id) VALUES (%s, %s, %s, %s)',
         (T0 + dt.timedelta(days=2), T0 + dt.timedelta(days=2, hours=5), "RN", m["F2"])),
        ('INSERT INTO "FacilityRequirement" (facility_id, document_id) VALUES (%s, %s)', (m["F2"], m["E"])),
    ):  # fmt: skip
        cursor = Subscriber(conn, m["W"]).cursor
        conn.execute(*concerning)
        assert conn.execute(UNRELATED, (cursor, [m["W"]])).fetchone()[0] is None, concerning[0]


def test_a_relay_probe_checks_the_identity_and_the_cursor(market):
    m, conn = market, market["conn"]
    cursor = Subscriber(conn, m["W"]).cursor
    with pytest.raises(psycopg.Error) as raised:
        conn.execute(UNRELATED, ("not a cursor", [m["W"]]))
    assert raised.value.sqlstate == "CP400"
    with conn.transaction():
        conn.execute("SELECT set_config('carepg.worker_id', %s, true), set_config('carepg.role', 'worker', true)",
                     (str(m["W"]),))  # fmt: skip
        assert conn.execute(UNRELATED, (cursor, [m["W"], m["W"]])).fetchone()[0] == cursor
        with pytest.raises(psycopg.Error) as raised, conn.transaction():
            conn.execute(UNRELATED, (cursor, [m["W"], m["other"]]))
        assert raised.value.sqlstate == "CP403" and raised.value.diag.message_detail == "not_your_worker"


AWAIT = "SELECT shifts.await_concerning_changes(%s, %s, %s::interval, %s::interval)"


def _await_in_thread(db_url, cursor, workers, timeout: str) -> tuple[list, threading.Thread]:
    """await_concerning_changes on a connection of its own, in a thread, once its statement is running."""
    answer: list = []

    def ask() -> None:
        with psycopg.connect(db_url, autocommit=True, application_name="carepg-await-test") as conn:
            answer.append(conn.execute(AWAIT, (cursor, workers, "5 ms", timeout)).fetchone()[0])

    thread = threading.Thread(target=ask)
    thread.start()
    with psycopg.connect(db_url, autocommit=True) as watcher:
        deadline = time.monotonic() + 30
        while not watcher.execute("""SELECT EXISTS (SELECT FROM pg_stat_activity WHERE state = 'active'
                                     AND application_name = 'carepg-await-test')""").fetchone()[0]:  # fmt: skip
            assert time.monotonic() < deadline and thread.is_alive(), answer
            time.sleep(0.01)
    return answer, thread


def test_awaiting_sees_a_concerning_change_committed_while_it_waits(market, db_url):
    """The question is asked again in fresh snapshots: a shift committed after the wait began ends it with NULL
    (read the feed) long before its timeout; had it kept its first snapshot it would answer a cursor."""
    m, conn = market, market["conn"]
    cursor = Subscriber(conn, m["W"]).cursor
    answer, thread = _await_in_thread(db_url, cursor, [m["W"]], "20 s")
    conn.execute('INSERT INTO "Shift" (start, "end", profession, facility_id) VALUES (%s, %s, %s, %s)',
                 (T0 + dt.timedelta(days=3), T0 + dt.timedelta(days=3, hours=5), "CNA", m["F2"]))  # fmt: skip
    thread.join(60)
    assert answer == [None]


def test_awaiting_passes_over_other_workers_changes_until_its_timeout(market, db_url):
    m, conn = market, market["conn"]
    cursor = Subscriber(conn, m["W"]).cursor
    answer, thread = _await_in_thread(db_url, cursor, [m["W"]], "1 s")
    conn.execute('DELETE FROM "DocumentWorker" WHERE worker_id = %s AND document_id = %s', (m["other"], m["D"]))
    thread.join(60)
    [moved] = answer
    assert moved is not None and moved != cursor
    assert [r[0] for r in conn.execute(FEED, (m["W"], cursor, None, None))] == ["cursor"]  # nothing for W between
    assert conn.execute(AWAIT, (moved, [m["W"]], "5 ms", "0")).fetchone()[0] == moved  # timeout 0: asks once


def test_awaiting_in_a_snapshot_that_cannot_change_asks_once(market):
    """Under REPEATABLE READ nothing new can become visible: one question, not a wait until the timeout (which
    the statement timeout would cut short with an error)."""
    m, conn = market, market["conn"]
    cursor = Subscriber(conn, m["W"]).cursor
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        conn.execute("SET LOCAL statement_timeout = '20s'")
        assert conn.execute(AWAIT, (cursor, [m["W"]], "5 ms", "60 s")).fetchone()[0] == cursor


@pytest.mark.parametrize(("poll", "timeout"), [("0", "1 s"), ("0.5 ms", "1 s"), ("2 s", "1 s"), (None, "1 s"),
                                               ("5 ms", "-1 s"), ("5 ms", "61 s"), ("5 ms", None)])  # fmt: skip
def test_awaiting_refuses_a_poll_or_timeout_out_of_range(market, poll, timeout):
    m, conn = market, market["conn"]
    cursor = Subscriber(conn, m["W"]).cursor
    with pytest.raises(psycopg.Error) as raised:
        conn.execute(AWAIT, (cursor, [m["W"]], poll, timeout))
    assert raised.value.sqlstate == "CP400" and "out of range" in raised.value.diag.message_primary


def test_awaiting_checks_the_identity_and_the_cursor(market):
    m, conn = market, market["conn"]
    cursor = Subscriber(conn, m["W"]).cursor
    with pytest.raises(psycopg.Error) as raised:
        conn.execute(AWAIT, ("not a cursor", [m["W"]], "5 ms", "0"))
    assert raised.value.sqlstate == "CP400"
    with conn.transaction():
        conn.execute("SELECT set_config('carepg.worker_id', %s, true), set_config('carepg.role', 'worker', true)",
                     (str(m["W"]),))  # fmt: skip
        with pytest.raises(psycopg.Error) as raised, conn.transaction():
            conn.execute(AWAIT, (cursor, [m["W"], m["other"]], "5 ms", "0"))
        assert raised.value.sqlstate == "CP403" and raised.value.diag.message_detail == "not_your_worker"
