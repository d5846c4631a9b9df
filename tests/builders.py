"""Small, explicit test data: each helper inserts one thing into the challenge tables and returns its id."""

from __future__ import annotations

import datetime as dt
import itertools

import psycopg

T0 = dt.datetime(2023, 2, 1, 5, 0, 0)
_names = itertools.count(1)


def document(conn: psycopg.Connection, *, active: bool = True) -> int:
    return conn.execute(
        'INSERT INTO "Document" (name, is_active) VALUES (%s, %s) RETURNING id', (f"doc{next(_names)}", active)
    ).fetchone()[0]


def facility(conn: psycopg.Connection, *, active: bool = True, requires: list[int] = ()) -> int:
    fid = conn.execute(
        'INSERT INTO "Facility" (name, is_active) VALUES (%s, %s) RETURNING id', (f"fac{next(_names)}", active)
    ).fetchone()[0]
    for doc in requires:
        require(conn, fid, doc)
    return fid


def require(conn: psycopg.Connection, facility_id: int, document_id: int) -> None:
    conn.execute('INSERT INTO "FacilityRequirement" (facility_id, document_id) VALUES (%s, %s)',
                 (facility_id, document_id))  # fmt: skip


def worker(conn: psycopg.Connection, *, profession: str = "CNA", active: bool = True, holds: list[int] = ()) -> int:
    wid = conn.execute(
        'INSERT INTO "Worker" (name, is_active, profession) VALUES (%s, %s, %s) RETURNING id',
        (f"w{next(_names)}", active, profession),
    ).fetchone()[0]
    for doc in holds:
        hold(conn, wid, doc)
    return wid


def hold(conn: psycopg.Connection, worker_id: int, document_id: int) -> None:
    conn.execute('INSERT INTO "DocumentWorker" (worker_id, document_id) VALUES (%s, %s)', (worker_id, document_id))


def shift(
    conn: psycopg.Connection,
    facility_id: int,
    *,
    profession: str = "CNA",
    start: dt.datetime = T0,
    hours: int = 5,
    claimed_by: int | None = None,
    deleted: bool = False,
) -> int:
    return conn.execute(
        'INSERT INTO "Shift" (start, "end", profession, is_deleted, facility_id, worker_id)'
        " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
        (start, start + dt.timedelta(hours=hours), profession, deleted, facility_id, claimed_by),
    ).fetchone()[0]


def refresh(conn: psycopg.Connection) -> None:
    conn.execute("SELECT shifts.refresh_eligibility(false)")


def available(conn: psycopg.Connection, worker_id: int, **kwargs) -> list[int]:
    """Shift ids the function returns (one call, up to 1000 rows), after refreshing the view."""
    refresh(conn)
    args = {"start_from": None, "start_to": None, "after_start": None, "after_id": None, "max_rows": 1000, **kwargs}
    rows = conn.execute(
        "SELECT shift_id FROM shifts.available_shifts(%(worker_id)s, %(start_from)s, %(start_to)s,"
        " %(after_start)s, %(after_id)s, %(max_rows)s)",
        {"worker_id": worker_id, **args},
    ).fetchall()
    return [r[0] for r in rows]
