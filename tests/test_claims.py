"""The write path's rules, one by one: shifts.claim_shift(), release_shift(), claimed_shifts() and the calendar's
shifts.available_shifts_by_day(), against real tables (concurrency: tests/test_claims_concurrency.py)."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

import builders as b

pytestmark = pytest.mark.fast

T0 = b.T0
HOUR = dt.timedelta(hours=1)


def claim(conn, worker_id, shift_id) -> tuple:
    return conn.execute("SELECT * FROM shifts.claim_shift(%s, %s)", (worker_id, shift_id)).fetchone()


def refused(conn, worker_id, shift_id) -> psycopg.Error:
    """The error a claim raises; the transaction is rolled back so the connection can go on."""
    with pytest.raises(psycopg.Error) as raised:
        with conn.transaction():
            claim(conn, worker_id, shift_id)
    return raised.value


def holder(conn, shift_id) -> int | None:
    return conn.execute('SELECT worker_id FROM "Shift" WHERE id = %s', (shift_id,)).fetchone()[0]


def claimed(conn, worker_id, **kwargs) -> list[int]:
    args = {"start_from": None, "start_to": None, "after_start": None, "after_id": None, "max_rows": 1000, **kwargs}
    rows = conn.execute(
        "SELECT shift_id FROM shifts.claimed_shifts(%(w)s, %(start_from)s, %(start_to)s, %(after_start)s,"
        " %(after_id)s, %(max_rows)s)", {"w": worker_id, **args}).fetchall()  # fmt: skip
    return [r[0] for r in rows]


@pytest.fixture
def conn(postgresql):
    postgresql.autocommit = True
    return postgresql


@pytest.fixture
def market(conn):
    """One facility requiring one document, a CNA worker holding it, and a few open CNA shifts."""
    doc = b.document(conn)
    fac = b.facility(conn, requires=[doc])
    worker = b.worker(conn, holds=[doc])
    other = b.worker(conn, holds=[doc])
    shifts = [b.shift(conn, fac, start=T0 + i * 6 * HOUR) for i in range(4)]  # 5 h long, 6 h apart
    b.refresh(conn)
    return {"doc": doc, "fac": fac, "worker": worker, "other": other, "shifts": shifts}


def test_a_claim_takes_exactly_an_available_shift_and_returns_it(conn, market):
    w, s = market["worker"], market["shifts"][0]
    assert s in b.available(conn, w)
    row = claim(conn, w, s)
    assert row[0] == s and row[1] == market["fac"] and row[3] == T0 and row[5] == "CNA" and row[6] is True
    assert holder(conn, s) == w
    assert s not in b.available(conn, w) and s not in b.available(conn, market["other"])
    assert claimed(conn, w) == [s]


def test_claiming_a_held_shift_again_changes_nothing(conn, market):
    w, s = market["worker"], market["shifts"][0]
    first = claim(conn, w, s)
    again = claim(conn, w, s)
    assert again[:6] == first[:6] and again[6] is False
    assert holder(conn, s) == w and claimed(conn, w) == [s]


def test_another_workers_shift_is_a_conflict(conn, market):
    s = market["shifts"][0]
    claim(conn, market["other"], s)
    err = refused(conn, market["worker"], s)
    assert err.sqlstate == "CP409" and err.diag.message_detail == "taken"
    assert "available_shifts" in err.diag.message_hint  # hints speak SQL
    assert holder(conn, s) == market["other"]


def test_an_overlapping_shift_is_a_conflict_and_a_touching_one_is_not(conn, market):
    w = market["worker"]
    first = claim(conn, w, market["shifts"][0])[0]  # 05:00-10:00
    overlapping = b.shift(conn, market["fac"], start=T0 + 4 * HOUR)  # 09:00-14:00
    touching = b.shift(conn, market["fac"], start=T0 + 5 * HOUR, hours=1)  # 10:00-11:00
    err = refused(conn, w, overlapping)
    assert err.sqlstate == "CP409" and err.diag.message_detail == "overlap"
    assert f"overlaps shift {first}" in err.diag.message_primary
    assert f"release_shift({w}, {first})" in err.diag.message_hint
    assert holder(conn, overlapping) is None
    assert claim(conn, w, touching)[6] is True
    # A deleted claim does not count.
    conn.execute("SELECT shifts.release_shift(%s, %s)", (w, touching))
    conn.execute('UPDATE "Shift" SET is_deleted = true WHERE id = %s', (first,))
    assert claim(conn, w, overlapping)[6] is True


@pytest.mark.parametrize("rule", ["worker_inactive", "facility_inactive", "shift_deleted", "profession",
                                  "documents"])  # fmt: skip
def test_each_ineligible_case_is_forbidden_and_changes_nothing(conn, market, rule):
    w, s, fac = market["worker"], market["shifts"][0], market["fac"]
    if rule == "worker_inactive":
        conn.execute('UPDATE "Worker" SET is_active = false WHERE id = %s', (w,))
    elif rule == "facility_inactive":
        conn.execute('UPDATE "Facility" SET is_active = false WHERE id = %s', (fac,))
    elif rule == "shift_deleted":
        conn.execute('UPDATE "Shift" SET is_deleted = true WHERE id = %s', (s,))
    elif rule == "profession":
        conn.execute("""UPDATE "Shift" SET profession = 'RN' WHERE id = %s""", (s,))
    else:
        extra = b.document(conn)
        b.require(conn, fac, extra)
    assert s not in b.available(conn, w)  # the read path agrees: not offered
    before = conn.execute('SELECT * FROM "Shift" ORDER BY id').fetchall()
    err = refused(conn, w, s)
    assert err.sqlstate == "CP403" and err.diag.message_detail == rule, err.diag.message_primary
    if rule == "documents":
        assert f"requires: {extra}" in err.diag.message_primary
    assert conn.execute('SELECT * FROM "Shift" ORDER BY id').fetchall() == before


def test_duplicates_and_no_requirements_follow_the_read_paths_set_logic(conn):
    doc = b.document(conn)
    fac = b.facility(conn, requires=[doc, doc])
    open_fac = b.facility(conn)
    w = b.worker(conn, holds=[doc, doc])
    s1, s2 = b.shift(conn, fac), b.shift(conn, open_fac, start=T0 + 10 * HOUR)
    assert claim(conn, w, s1)[6] and claim(conn, w, s2)[6]


def test_unknown_worker_or_shift_is_not_found(conn, market):
    for worker, shift in ((2_000_000_000, market["shifts"][0]), (market["worker"], 2_000_000_000),
                          (None, market["shifts"][0]), (market["worker"], None)):  # fmt: skip
        assert refused(conn, worker, shift).sqlstate == "CP404"
    assert all(holder(conn, s) is None for s in market["shifts"])


def test_release_reoffers_the_shift_at_once_to_everyone_eligible(conn, market):
    w, other, s = market["worker"], market["other"], market["shifts"][0]
    claim(conn, w, s)
    overlapping = b.shift(conn, market["fac"], start=T0 + 2 * HOUR)
    assert overlapping not in b.available(conn, w)  # hidden by the claim
    conn.execute("SELECT shifts.release_shift(%s, %s)", (w, s))
    assert holder(conn, s) is None
    assert s in b.available(conn, w) and s in b.available(conn, other) and overlapping in b.available(conn, w)
    assert claimed(conn, w) == []
    assert claim(conn, other, s)[6] is True


def test_release_of_a_shift_not_held_is_not_found(conn, market):
    w, s = market["worker"], market["shifts"][0]
    for worker, shift in ((w, s), (2_000_000_000, s), (w, 2_000_000_000), (None, s)):
        with pytest.raises(psycopg.Error) as raised:
            conn.execute("SELECT shifts.release_shift(%s, %s)", (worker, shift))
        assert raised.value.sqlstate == "CP404"
    claim(conn, market["other"], s)
    with pytest.raises(psycopg.Error) as raised:
        conn.execute("SELECT shifts.release_shift(%s, %s)", (w, s))
    assert raised.value.sqlstate == "CP404" and "does not hold" in raised.value.diag.message_primary
    assert holder(conn, s) == market["other"]


def test_claimed_shifts_pages_like_available_shifts(conn, market):
    w = market["worker"]
    mine = [claim(conn, w, s)[0] for s in market["shifts"]]
    deleted = mine.pop()
    conn.execute('UPDATE "Shift" SET is_deleted = true WHERE id = %s', (deleted,))
    elsewhere = b.facility(conn, active=False)
    kept = b.shift(conn, elsewhere, start=T0 + 100 * HOUR, claimed_by=w)  # held at a facility gone inactive
    expected = mine + [kept]
    assert claimed(conn, w) == expected
    pages, after = [], (None, None)
    while True:
        rows = conn.execute("SELECT shift_id, start FROM shifts.claimed_shifts(%s, after_start => %s, after_id => %s,"
                            " max_rows => 2)", (w, after[1], after[0])).fetchall()  # fmt: skip
        pages += [r[0] for r in rows]
        if len(rows) < 2:
            break
        after = rows[-1]
    assert pages == expected
    assert claimed(conn, w, start_from=T0 + 6 * HOUR, start_to=T0 + 12 * HOUR) == [mine[1]]
    assert claimed(conn, market["other"]) == []
    for bad in ({"max_rows": 0}, {"max_rows": 1001}, {"start_from": T0 + HOUR, "start_to": T0},
                {"after_start": T0}):  # fmt: skip
        with pytest.raises(psycopg.Error) as raised:
            claimed(conn, w, **bad)
        assert raised.value.sqlstate == "CP400"
    with pytest.raises(psycopg.Error) as raised:
        claimed(conn, 2_000_000_000)
    assert raised.value.sqlstate == "CP404"


def by_day(conn, worker_id, start_from, start_to, per_day):
    return conn.execute(
        "SELECT day, day_total, shift_id FROM shifts.available_shifts_by_day(%s, %s, %s, %s)",
        (worker_id, start_from, start_to, per_day)).fetchall()  # fmt: skip


def test_by_day_counts_each_day_and_shows_its_first_shifts(conn):
    doc = b.document(conn)
    fac = b.facility(conn, requires=[doc])
    w = b.worker(conn, holds=[doc])
    days = {0: 5, 1: 0, 2: 1, 3: 3}
    ids = {d: [b.shift(conn, fac, start=T0 + dt.timedelta(days=d, minutes=7 * i), hours=1) for i in range(n)]
           for d, n in days.items()}  # fmt: skip
    b.refresh(conn)
    rows = by_day(conn, w, T0.replace(hour=0), T0.replace(hour=0) + dt.timedelta(days=4), 2)
    day = lambda d: (T0 + dt.timedelta(days=d)).date()  # noqa: E731
    assert rows == [(day(0), 5, ids[0][0]), (day(0), 5, ids[0][1]), (day(2), 1, ids[2][0]),
                    (day(3), 3, ids[3][0]), (day(3), 3, ids[3][1])]  # fmt: skip
    # Each day equals the read path's own answer for that day, count and order.
    for d in (0, 2, 3):
        whole = b.available(conn, w, start_from=T0.replace(hour=0) + dt.timedelta(days=d),
                            start_to=T0.replace(hour=0) + dt.timedelta(days=d + 1))  # fmt: skip
        assert whole == ids[d]
    # The window cuts days; overlapping a claim hides shifts from the count too.
    assert by_day(conn, w, T0 + dt.timedelta(minutes=10), T0 + dt.timedelta(days=2), 10) == [
        (day(0), 3, i) for i in ids[0][2:]]
    claim(conn, w, ids[0][0])  # 05:00-06:00 hides the shifts starting before 06:00 that day
    assert by_day(conn, w, T0.replace(hour=0), T0.replace(hour=0) + dt.timedelta(days=1), 1) == []
    assert by_day(conn, b.worker(conn, active=False, holds=[doc]), T0, T0 + HOUR, 3) == []


@pytest.mark.parametrize(("args", "state"), [
    ((None, T0), "CP400"), ((T0, None), "CP400"), ((T0 + HOUR, T0), "CP400"),
    ((T0, T0 + dt.timedelta(days=63)), "CP400"), ((T0, T0 + HOUR, 0), "CP400"), ((T0, T0 + HOUR, 101), "CP400"),
])  # fmt: skip
def test_by_day_refuses_bad_arguments(conn, market, args, state):
    start_from, start_to, *per_day = args
    with pytest.raises(psycopg.Error) as raised:
        by_day(conn, market["worker"], start_from, start_to, per_day[0] if per_day else 3)
    assert raised.value.sqlstate == state
    with pytest.raises(psycopg.Error) as raised:
        by_day(conn, 2_000_000_000, T0, T0 + HOUR, 3)
    assert raised.value.sqlstate == "CP404"


def test_the_api_role_claims_without_any_table_privilege(conn, market):
    w, s = market["worker"], market["shifts"][0]
    conn.execute("SET ROLE carepg_api")
    assert claim(conn, w, s)[6] is True
    assert claimed(conn, w) == [s]
    conn.execute("SELECT shifts.release_shift(%s, %s)", (w, s))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute('UPDATE "Shift" SET worker_id = %s WHERE id = %s', (w, s))
    conn.execute("SET ROLE carepg_reader")  # reads, never writes
    assert claimed(conn, w) == []
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        claim(conn, w, s)
    conn.execute("RESET ROLE")
