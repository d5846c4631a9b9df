"""The functions that read one worker's shifts judge a call the same way, in the same order: who may ask (CP403),
then the arguments (CP400), then the worker (CP404), with the same words for the same mistake.

Each function states these checks at its top instead of calling one helper for them: a helper is one more
function call with its own search_path on every page (~5-9 µs of a ~110 µs first page, PERFORMANCE.md, "Bearer
tokens"), for fifteen lines. This test is what keeps the five copies one rule: each case runs against every
function that takes the argument in question.
"""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

import builders as b

T0 = dt.datetime(2023, 2, 1, 5, 0)
UNKNOWN = 2_000_000_000

PAGED = {  # the functions with a cursor and max_rows
    "available_shifts": "SELECT * FROM shifts.available_shifts(%(w)s, %(f)s, %(t)s, %(a)s, %(i)s, %(n)s)",
    "available_shifts_json": "SELECT shifts.available_shifts_json(%(w)s, %(f)s, %(t)s, %(a)s, %(i)s, %(n)s)",
    "claimed_shifts": "SELECT * FROM shifts.claimed_shifts(%(w)s, %(f)s, %(t)s, %(a)s, %(i)s, %(n)s)",
}
READS = {
    **PAGED,
    "count_available_shifts": "SELECT shifts.count_available_shifts(%(w)s, %(f)s, %(t)s)",
    "available_shifts_by_day": "SELECT * FROM shifts.available_shifts_by_day(%(w)s, %(f)s, %(t)s)",
}


@pytest.fixture
def conn(db_url):
    with psycopg.connect(db_url, autocommit=True) as conn:
        yield conn


def refusal(conn, sql: str, acting_for: int | None = None, **params) -> tuple[str, str, str | None]:
    args = {"w": None, "f": T0, "t": T0 + dt.timedelta(days=7), "a": None, "i": None, "n": 50, **params}
    with pytest.raises(psycopg.Error) as raised, conn.transaction():
        if acting_for is not None:
            conn.execute("SELECT set_config('carepg.worker_id', %s, true), set_config('carepg.role', 'worker', true)",
                         (str(acting_for),))  # fmt: skip
        conn.execute(sql, args)
    err = raised.value
    return err.sqlstate, err.diag.message_primary, err.diag.message_detail


def test_the_same_mistake_gets_the_same_answer_from_every_read(conn):
    w, other = b.worker(conn), b.worker(conn)
    late, early = T0 + dt.timedelta(days=3), T0
    cases = {  # what is wrong -> (the functions it applies to, the arguments)
        "inverted window": (READS, {"w": w, "f": late, "t": early}),
        "unknown worker": (READS, {"w": UNKNOWN}),
        "unknown worker and an inverted window (the arguments first)": (READS, {"w": UNKNOWN, "f": late, "t": early}),
        "half a cursor": (PAGED, {"w": w, "a": T0}),
        "max_rows 0": (PAGED, {"w": w, "n": 0}),
        "max_rows 1001": (PAGED, {"w": w, "n": 1001}),
    }
    for what, (functions, params) in cases.items():
        answers = {name: refusal(conn, sql, **params) for name, sql in functions.items()}
        assert len(set(answers.values())) == 1, f"{what}: {answers}"
        sqlstate = next(iter(answers.values()))[0]
        assert sqlstate == ("CP404" if what == "unknown worker" else "CP400"), (what, answers)
    # Who may ask comes before anything else: another worker's identity is a 403 even with bad arguments.
    for params in ({"w": w}, {"w": w, "f": late, "t": early}, {"w": w, "n": 0}):
        answers = {name: refusal(conn, sql, acting_for=other, **params) for name, sql in READS.items()
                   if "n" not in params or name in PAGED}  # fmt: skip
        assert {a[0] for a in answers.values()} == {"CP403"}, answers
        assert {a[2] for a in answers.values()} == {"not_your_worker"}, answers
        assert len({a[1] for a in answers.values()}) == 1, answers
