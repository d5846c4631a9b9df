"""shifts.available_shifts(): the six eligibility criteria, the awkward data, windows, paging, errors.

Every test runs under both of the function's plans (per-facility merge and the ordered walk), pinned with
the carepg.available_shifts_plan setting, so both are held to the same answers.
"""

from __future__ import annotations

import datetime as dt
import random

import psycopg
import pytest

from builders import T0, available, document, facility, hold, refresh, require, shift, worker

pytestmark = pytest.mark.fast

H = dt.timedelta(hours=1)


@pytest.fixture(params=["per_facility", "walk"])
def conn(request, postgresql: psycopg.Connection) -> psycopg.Connection:
    postgresql.execute("SELECT set_config('carepg.available_shifts_plan', %s, false)", (request.param,))
    return postgresql


# --- the six criteria: one case that includes, one that excludes ------------------------------------------


def test_facility_must_be_active(conn):
    open_f, closed_f = facility(conn), facility(conn, active=False)
    w = worker(conn)
    keep, drop = shift(conn, open_f), shift(conn, closed_f)
    assert available(conn, w) == [keep]
    assert drop not in available(conn, w)


def test_shift_must_not_be_deleted(conn):
    f, w = facility(conn), worker(conn)
    keep = shift(conn, f)
    shift(conn, f, deleted=True)
    assert available(conn, w) == [keep]


def test_worker_must_be_active(conn):
    f = facility(conn)
    shift(conn, f)
    active, inactive = worker(conn), worker(conn, active=False)
    assert len(available(conn, active)) == 1
    assert available(conn, inactive) == []  # no rows, and no error


def test_shift_must_not_be_claimed(conn):
    f = facility(conn)
    w, other = worker(conn), worker(conn)
    keep = shift(conn, f)
    shift(conn, f, claimed_by=other)
    shift(conn, f, claimed_by=w, start=T0 + 10 * H)  # already the worker's own: not "available" either
    assert available(conn, w) == [keep]


def test_worker_must_hold_every_required_document(conn):
    a, b, c = document(conn), document(conn), document(conn)
    f = facility(conn, requires=[a, b])
    s = shift(conn, f)
    both = worker(conn, holds=[a, b])
    superset = worker(conn, holds=[a, b, c])
    only_a = worker(conn, holds=[a])
    nothing = worker(conn)
    assert available(conn, both) == [s]
    assert available(conn, superset) == [s]
    assert available(conn, only_a) == []
    assert available(conn, nothing) == []


def test_professions_must_match(conn):
    f = facility(conn)
    cna_shift = shift(conn, f, profession="CNA")
    rn_shift = shift(conn, f, profession="RN")
    assert available(conn, worker(conn, profession="CNA")) == [cna_shift]
    assert available(conn, worker(conn, profession="RN")) == [rn_shift]
    assert available(conn, worker(conn, profession="LVN")) == []


# --- the data's awkward corners -----------------------------------------------------------------------------


def test_duplicate_rows_change_nothing(conn):
    a, b = document(conn), document(conn)
    f = facility(conn, requires=[a, a, a, b])  # duplicate requirement rows, as in the seed
    s = shift(conn, f)
    w = worker(conn, holds=[a, b, b])  # duplicate document rows
    assert available(conn, w) == [s]
    # Two copies of `a` are not `a` and `b`: a count-based check would get this wrong.
    assert available(conn, worker(conn, holds=[a, a, a, a])) == []


def test_facility_without_requirements_is_open_to_every_active_worker(conn):
    f = facility(conn)
    s = shift(conn, f)
    assert available(conn, worker(conn)) == [s]
    assert available(conn, worker(conn, holds=[document(conn)])) == [s]


def test_inactive_documents_still_count(conn):
    """Document.is_active is not an eligibility criterion: required is required, held is held."""
    inactive = document(conn, active=False)
    f = facility(conn, requires=[inactive])
    s = shift(conn, f)
    assert available(conn, worker(conn, holds=[inactive])) == [s]
    assert available(conn, worker(conn)) == []


def test_shift_sees_only_its_own_facility_requirements(conn):
    a, b = document(conn), document(conn)
    easy, hard = facility(conn, requires=[a]), facility(conn, requires=[a, b])
    s_easy, s_hard = shift(conn, easy), shift(conn, hard, start=T0 + H)
    assert available(conn, worker(conn, holds=[a])) == [s_easy]
    assert available(conn, worker(conn, holds=[a, b])) == [s_easy, s_hard]


# --- errors ------------------------------------------------------------------------------------------------


def test_unknown_worker_raises_cp404_naming_the_id(conn):
    with pytest.raises(psycopg.Error) as info:
        conn.execute("SELECT * FROM shifts.available_shifts(987654)")
    assert info.value.sqlstate == "CP404"
    assert "987654" in info.value.diag.message_primary


def test_null_worker_is_unknown(conn):
    with pytest.raises(psycopg.Error) as info:
        conn.execute("SELECT * FROM shifts.available_shifts(NULL)")
    assert info.value.sqlstate == "CP404"


@pytest.mark.parametrize(
    "args",
    [
        {"max_rows": 0},
        {"max_rows": 1001},
        {"max_rows": None},
        {"after_start": T0},  # half a cursor
        {"after_id": 5},
        {"start_from": T0 + H, "start_to": T0},  # inverted window
    ],
)
def test_bad_arguments_raise_cp400(conn, args):
    w = worker(conn)
    refresh(conn)
    call = {"worker_id": w, "start_from": None, "start_to": None, "after_start": None, "after_id": None,
            "max_rows": 100, **args}  # fmt: skip
    with pytest.raises(psycopg.Error) as info:
        conn.execute(
            "SELECT * FROM shifts.available_shifts(%(worker_id)s, %(start_from)s, %(start_to)s, %(after_start)s,"
            " %(after_id)s, %(max_rows)s)",
            call,
        )
    assert info.value.sqlstate == "CP400"


# --- window and paging --------------------------------------------------------------------------------------


def test_window_is_half_open_on_start_to_the_millisecond(conn):
    f, w = facility(conn), worker(conn)
    at = T0 + dt.timedelta(milliseconds=344)
    before = shift(conn, f, start=at - dt.timedelta(milliseconds=1))
    exact = shift(conn, f, start=at)
    later = shift(conn, f, start=at + H)
    assert available(conn, w, start_from=at) == [exact, later]  # start_from is inclusive
    assert available(conn, w, start_to=at) == [before]  # start_to is exclusive
    assert available(conn, w, start_from=at, start_to=at + H) == [exact]
    assert available(conn, w, start_from=at, start_to=at) == []  # an empty window is not an error


def test_results_are_ordered_by_start_then_id(conn):
    f1, f2 = facility(conn), facility(conn)
    w = worker(conn)
    late = shift(conn, f1, start=T0 + 2 * H)
    tie_b = shift(conn, f2, start=T0)
    tie_a = shift(conn, f1, start=T0)
    early = shift(conn, f2, start=T0 - H)
    assert available(conn, w) == [early, *sorted([tie_a, tie_b]), late]


def test_keyset_paging_neither_loses_nor_repeats_rows(conn):
    rng = random.Random(7)
    facilities = [facility(conn) for _ in range(4)]
    w = worker(conn)
    for _ in range(60):  # many ties on start across facilities, like the seed's 05/13/20 h slots
        shift(conn, rng.choice(facilities), start=T0 + rng.randrange(4) * H)
    everything = available(conn, w)
    assert len(everything) == 60
    pages, after = [], (None, None)
    while True:
        page = conn.execute(
            "SELECT shift_id, start FROM shifts.available_shifts(%s, after_start => %s, after_id => %s,"
            " max_rows => 7)",
            (w, after[1], after[0]),
        ).fetchall()
        if not page:
            break
        assert len(page) <= 7
        pages.append([r[0] for r in page])
        after = page[-1]
    assert [sid for page in pages for sid in page] == everything
    assert len(pages) == 9  # 60 rows in pages of 7


def test_paging_within_a_window(conn):
    f, w = facility(conn), worker(conn)
    ids = [shift(conn, f, start=T0 + i * H) for i in range(10)]
    refresh(conn)
    first = conn.execute(
        "SELECT shift_id, start FROM shifts.available_shifts(%s, %s, %s, max_rows => 3)", (w, T0 + 2 * H, T0 + 8 * H)
    ).fetchall()
    assert [r[0] for r in first] == ids[2:5]
    rest = conn.execute(
        "SELECT shift_id FROM shifts.available_shifts(%s, %s, %s, %s, %s, 100)",
        (w, T0 + 2 * H, T0 + 8 * H, first[-1][1], first[-1][0]),
    ).fetchall()
    assert [r[0] for r in rest] == ids[5:8]


@pytest.mark.parametrize("cursor_at", ["before the window", "at the window's start", "inside", "after the window"])
def test_a_cursor_and_a_window_together_mean_both(conn, cursor_at):
    """The scan starts at the later of the two: each bound still holds whichever is tighter, ties included."""
    facilities = [facility(conn) for _ in range(3)]
    w = worker(conn)
    shifts_by_hour = {h: [shift(conn, f, start=T0 + h * H) for f in facilities] for h in range(8)}  # ties on start
    refresh(conn)
    start_from, start_to = T0 + 2 * H, T0 + 6 * H
    window = [sid for h in range(2, 6) for sid in sorted(shifts_by_hour[h])]
    hour = {"before the window": 1, "at the window's start": 2, "inside": 4, "after the window": 7}[cursor_at]
    tied = sorted(shifts_by_hour[hour])
    after_start, after_id = T0 + hour * H, tied[1]  # the middle one of three shifts that start together
    expected = [sid for sid in window if (T0 + _hour_of(shifts_by_hour, sid) * H, sid) > (after_start, after_id)]
    rows = conn.execute(
        "SELECT shift_id FROM shifts.available_shifts(%s, %s, %s, %s, %s, 1000)",
        (w, start_from, start_to, after_start, after_id),
    ).fetchall()
    assert [r[0] for r in rows] == expected
    assert (len(expected) == len(window)) == (cursor_at == "before the window")


def _hour_of(shifts_by_hour: dict[int, list[int]], shift_id: int) -> int:
    return next(h for h, ids in shifts_by_hour.items() if shift_id in ids)


def test_count_matches_the_rows(conn):
    a = document(conn)
    f1, f2 = facility(conn), facility(conn, requires=[a])
    w = worker(conn)
    for i in range(5):
        shift(conn, f1, start=T0 + i * H)
        shift(conn, f2, start=T0 + i * H)
    refresh(conn)
    count = lambda *args: conn.execute("SELECT shifts.count_available_shifts(%s, %s, %s)", args).fetchone()[0]  # noqa: E731
    assert count(w, None, None) == len(available(conn, w)) == 5
    assert count(w, T0 + H, T0 + 3 * H) == 2
    with pytest.raises(psycopg.Error) as info:
        count(123456, None, None)
    assert info.value.sqlstate == "CP404"


# --- against an independent formulation, on random data ----------------------------------------------------

REFERENCE = """
WITH held AS (SELECT worker_id, array_agg(DISTINCT document_id) AS docs FROM "DocumentWorker" GROUP BY worker_id),
     needed AS (SELECT facility_id, array_agg(DISTINCT document_id) AS docs FROM "FacilityRequirement"
                GROUP BY facility_id)
SELECT s.id
FROM "Worker" w
JOIN "Shift" s ON s.profession = w.profession AND s.worker_id IS NULL AND s.is_deleted = false
JOIN "Facility" f ON f.id = s.facility_id AND f.is_active
LEFT JOIN held h ON h.worker_id = w.id
LEFT JOIN needed n ON n.facility_id = f.id
WHERE w.id = %s AND w.is_active AND coalesce(h.docs, '{}') @> coalesce(n.docs, '{}')
  AND NOT EXISTS (SELECT FROM "Shift" c WHERE c.worker_id = w.id AND NOT c.is_deleted
                  AND c.start < s."end" AND s.start < c."end")
ORDER BY s.start, s.id
"""


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_marketplace_matches_an_independent_query(conn, seed):
    rng = random.Random(seed)
    docs = [document(conn, active=rng.random() < 0.7) for _ in range(5)]
    facilities = [facility(conn, active=rng.random() < 0.7) for _ in range(8)]
    for f in facilities:
        for _ in range(rng.randrange(4)):
            require(conn, f, rng.choice(docs))
    workers = [worker(conn, profession=rng.choice(["CNA", "LVN", "RN"]), active=rng.random() < 0.8)
               for _ in range(12)]  # fmt: skip
    for w in workers:
        for _ in range(rng.randrange(6)):
            hold(conn, w, rng.choice(docs))
    for _ in range(300):
        shift(conn, rng.choice(facilities), profession=rng.choice(["CNA", "LVN", "RN"]),
              start=T0 + rng.randrange(40) * H, claimed_by=rng.choice([None, None, rng.choice(workers)]),
              deleted=rng.random() < 0.3)  # fmt: skip
    for w in workers:
        expected = [r[0] for r in conn.execute(REFERENCE, (w,)).fetchall()]
        assert available(conn, w) == expected
