"""The open-shifts API as Python calls: each one runs a single named query against the stored functions."""

from __future__ import annotations

import dataclasses
import datetime as dt

import psycopg
from psycopg.rows import dict_row

from . import args, cursor, db, paths
from .args import MAX_ROWS

QUERIES = paths.named_queries("queries/shifts.sql")

# Who the database is told a call acts as: (carepg.worker_id, carepg.role) for the call's transaction
# (sql/shifts_private/acting_identity.sql). The web app passes the verified token's (auth.Identity.settings);
# the CLI and other trusted callers act as no one in particular, and the functions keep their plain contract.
Acting = tuple[str, str]
TRUSTED: Acting = ("", "")


@dataclasses.dataclass(frozen=True)
class Page:
    worker_id: int
    shifts: list[dict]
    next_cursor: str | None

    def as_json(self) -> dict:
        return {
            "worker_id": self.worker_id,
            "shifts": [shift_json(s) for s in self.shifts],
            "next_cursor": self.next_cursor,
        }


def page(
    conn: psycopg.Connection,
    worker_id: int,
    *,
    start_from: dt.datetime | None = None,
    start_to: dt.datetime | None = None,
    after: str | None = None,
    limit: int = 50,
    acting: Acting = TRUSTED,
) -> Page:
    """One page of available shifts, with the cursor of the next page (None when this is the last)."""
    return _keyset_page(conn, "available_shifts", worker_id, start_from=start_from, start_to=start_to, after=after,
                        limit=limit, acting=acting)  # fmt: skip


def page_json(
    conn: psycopg.Connection | psycopg.Cursor,
    worker_id: int,
    *,
    start_from: dt.datetime | None = None,
    start_to: dt.datetime | None = None,
    after: str | None = None,
    limit: int = 50,
    acting: Acting = TRUSTED,
) -> bytes:
    """The same page as `page(...).as_json()`, as the JSON bytes PostgreSQL built (shifts.available_shifts_json):
    what the HTTP API answers, never decoded into rows here. `conn` may be a cursor to reuse."""
    after_start, after_id = _page_position(limit, after)
    params = (start_from, start_to, after_start, after_id, limit, worker_id, *acting)  # the query's order
    with db.translated_errors():
        # Binary results: the bytea arrives as the body's bytes, with no hex decoding and no str in between.
        return conn.execute(QUERIES["available_shifts_json"], params, binary=True).fetchone()[0]


def count(
    conn: psycopg.Connection,
    worker_id: int,
    *,
    start_from: dt.datetime | None = None,
    start_to: dt.datetime | None = None,
    acting: Acting = TRUSTED,
) -> int:
    with db.translated_errors():
        params = {"worker_id": worker_id, "start_from": start_from, "start_to": start_to, **_acting(acting)}
        return conn.execute(QUERIES["count_available_shifts"], params).fetchone()[0]


def refresh(conn: psycopg.Connection, *, concurrently: bool = True) -> None:
    with db.translated_errors():
        conn.execute(QUERIES["refresh_eligibility"], {"concurrent": concurrently})


def schedule_refresh(conn: psycopg.Connection, schedule: str) -> int:
    """Install the pg_cron job; Unsupported (CP501) says what the server lacks."""
    with db.translated_errors():
        return conn.execute(QUERIES["schedule_refresh"], {"schedule": schedule}).fetchone()[0]


def unschedule_refresh(conn: psycopg.Connection) -> bool:
    with db.translated_errors():
        return conn.execute(QUERIES["unschedule_refresh"], {}).fetchone()[0]


def deterministic_workers(conn: psycopg.Connection) -> list[dict]:
    with db.translated_errors(), conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(QUERIES["deterministic_workers"], {}).fetchall()


def row_counts(conn: psycopg.Connection) -> dict[str, int]:
    with db.translated_errors(), conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(QUERIES["challenge_row_counts"], {}).fetchone()


# --- the write path and the calendar's read --------------------------------------------------------------------


def shift_json(row: dict) -> dict:
    """One shift as the HTTP API and `--json` show it (the shape of a page's shifts)."""
    return {
        "id": row["shift_id"],
        "start": row["start"].isoformat(timespec="milliseconds"),
        "end": row["end"].isoformat(timespec="milliseconds"),
        "profession": row["profession"],
        "facility": {"id": row["facility_id"], "name": row["facility_name"]},
    }


@dataclasses.dataclass(frozen=True)
class Claim:
    shift: dict  # a row of shifts.claim_shift()
    newly_claimed: bool  # False: the worker already held it and nothing changed


def claim(conn: psycopg.Connection, worker_id: int, shift_id: int, acting: Acting = TRUSTED) -> Claim:
    """Claim the shift for the worker (NotFound, Conflict or Forbidden say why not)."""
    params = {"worker_id": worker_id, "shift_id": shift_id, **_acting(acting)}
    with db.translated_errors(), conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(QUERIES["claim_shift"], params).fetchone()
    newly = row.pop("newly_claimed")
    return Claim(shift=row, newly_claimed=newly)


def release(conn: psycopg.Connection, worker_id: int, shift_id: int, acting: Acting = TRUSTED) -> None:
    """Give the shift back (NotFound when the worker does not hold it)."""
    params = {"worker_id": worker_id, "shift_id": shift_id, **_acting(acting)}
    with db.translated_errors():
        conn.execute(QUERIES["release_shift"], params).fetchone()


def claims_page(
    conn: psycopg.Connection,
    worker_id: int,
    *,
    start_from: dt.datetime | None = None,
    start_to: dt.datetime | None = None,
    after: str | None = None,
    limit: int = 50,
    acting: Acting = TRUSTED,
) -> Page:
    """One page of the shifts the worker holds, paged like page() (same limits, same cursor)."""
    return _keyset_page(conn, "claimed_shifts", worker_id, start_from=start_from, start_to=start_to, after=after,
                        limit=limit, acting=acting)  # fmt: skip


def changes(conn: psycopg.Connection, worker_id: int, after: str | None, *, start_from: dt.datetime | None = None,
            start_to: dt.datetime | None = None) -> tuple[list[dict], str]:
    """What changed for the worker and window since the cursor `after` (shifts.available_shift_changes): the
    events ('available' with the shift, 'unavailable', 'reset') and the cursor to pass next time. `after` None
    gives no events, only where the feed stands now."""
    rows = conn.execute(QUERIES["shift_changes"], {"worker_id": worker_id, "after": after, "start_from": start_from,
                                                    "start_to": start_to}).fetchall()  # fmt: skip
    names = ("change", "shift_id", "facility_id", "facility_name", "start", "end", "profession", "cursor")
    events = [dict(zip(names, row)) for row in rows[:-1]]
    return events, rows[-1][-1]


def changed_since(conn: psycopg.Connection, after: str) -> bool:
    """Has anything been logged since the cursor? (One index probe: what a poller asks first.)"""
    return conn.execute(QUERIES["shift_changes_since"], {"after": after}).fetchone()[0]


def _page_position(limit: int, after: str | None) -> tuple[dt.datetime | None, int | None]:
    """Check a page's size; the (start, shift id) its cursor continues after."""
    args.limit(limit)
    return cursor.decode(after) if after else (None, None)


def _acting(acting: Acting) -> dict[str, str]:
    return {"acting_worker": acting[0], "acting_role": acting[1]}


def _keyset_page(conn, query: str, worker_id: int, *, start_from, start_to, after, limit, acting: Acting) -> Page:
    """A page of a keyset-paged function (available_shifts, claimed_shifts) and the cursor of the next one."""
    after_start, after_id = _page_position(limit, after)
    # One row more than asked tells whether another page exists.
    params = {"worker_id": worker_id, "start_from": start_from, "start_to": start_to, "after_start": after_start,
              "after_id": after_id, "max_rows": min(limit + 1, MAX_ROWS), **_acting(acting)}  # fmt: skip
    with db.translated_errors(), conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(QUERIES[query], params).fetchall()
        more = len(rows) > limit
        if len(rows) == limit == MAX_ROWS:  # could not ask for limit + 1: probe for one more row
            last = rows[-1]
            probe = {**params, "after_start": last["start"], "after_id": last["shift_id"], "max_rows": 1}
            more = bool(cur.execute(QUERIES[query], probe).fetchall())
    rows = rows[:limit]
    next_cursor = cursor.encode(rows[-1]["start"], rows[-1]["shift_id"]) if more else None
    return Page(worker_id=worker_id, shifts=rows, next_cursor=next_cursor)


def by_day(
    conn: psycopg.Connection,
    worker_id: int,
    *,
    start_from: dt.datetime | None,
    start_to: dt.datetime | None,
    per_day: int = 3,
    acting: Acting = TRUSTED,
) -> list[dict]:
    """Each day of the window with available shifts: its date, how many, its first `per_day` shifts, and the
    cursor that continues that day with page(start_from=date, start_to=next date) (None when all are shown)."""
    params = {"worker_id": worker_id, "start_from": start_from, "start_to": start_to, "per_day": per_day,
              **_acting(acting)}  # fmt: skip
    with db.translated_errors(), conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(QUERIES["available_shifts_by_day"], params).fetchall()
    days: list[dict] = []
    for row in rows:
        if not days or days[-1]["date"] != row["day"]:
            days.append({"date": row["day"], "available": row["day_total"], "shifts": []})
        days[-1]["shifts"].append(row)
    for day in days:
        last = day["shifts"][-1]
        more = day["available"] > len(day["shifts"])
        day["next_cursor"] = cursor.encode(last["start"], last["shift_id"]) if more else None
    return days
