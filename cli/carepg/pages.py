"""Pages of shifts on the terminal (`carepg shifts`, `claims`, `demo`), and `carepg shifts` itself.

A page is printed from its JSON shape (`{"worker_id", "shifts": [{"id", "start", "end", "profession",
"facility": {"id", "name"}}], "next_cursor"}`, what shifts.Page.as_json() and shifts.available_shifts_json()
both give): as that JSON, indented, or as a table. `available()` is the body of `carepg shifts`, whichever way
its command line was read (main.py's fast path or the Typer app): one libpq connection, one call of
shifts.available_shifts_json(), no psycopg.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys

from . import db, paths
from .console import say


def available(worker_id: int, *, start_from: dt.datetime | None, start_to: dt.datetime | None, limit: int,
              after: str | None, as_json: bool) -> None:  # fmt: skip
    """Print one page of the worker's available shifts (the arguments are checked already: args.py)."""
    after_start, after_id = None, None
    if after:
        from . import cursor

        after_start, after_id = cursor.decode(after)
    query = paths.named_queries("queries/shifts.sql")["available_shifts_json"]
    # The query's order: the page's arguments, then the worker and the acting identity (none: a trusted caller).
    params = (_sql_timestamp(start_from), _sql_timestamp(start_to), _sql_timestamp(after_start), after_id, limit,
              worker_id, "", "")  # fmt: skip
    with db.quick_connect() as conn, db.translated_errors():
        body = conn.execute(query, params, binary=True)[0][0]
    print_page(json.loads(body), as_json, f"no available shifts for worker {worker_id}")


def _sql_timestamp(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def print_page(page: dict, as_json: bool, empty: str) -> None:
    if as_json:
        say(json.dumps(page, indent=2))
        return
    if not page["shifts"]:
        say(empty)
        return
    print_table(page["shifts"])
    if page["next_cursor"]:
        say(f"next page: --after {page['next_cursor']}")


COLUMNS = (("shift", "right"), ("start", "left"), ("end", "left"), ("profession", "left"), ("facility", "left"))


def print_table(shifts: list[dict]) -> None:
    """Shifts (in their JSON shape) as aligned columns, two spaces apart, the header bold on a terminal."""
    rows = [[str(s["id"]), s["start"].replace("T", " "), end_time(s["start"], s["end"]), s["profession"],
             f"{s['facility']['id']} {(s['facility']['name'] or '')[:12]}"] for s in shifts]  # fmt: skip
    header = [name for name, _ in COLUMNS]
    widths = [max(_width(cell) for cell in column) for column in zip(header, *rows)]

    def line(cells: list[str]) -> str:
        padded = []
        for (_, justify), width, cell in zip(COLUMNS, widths, cells):
            pad = " " * (width - _width(cell))
            padded.append(pad + cell if justify == "right" else cell + pad)
        return "  ".join(padded)

    top = line(header)
    if _bold():
        top = f"\x1b[1m{top}\x1b[0m"
    say("\n".join([top, *(line(row) for row in rows)]))


def end_time(start: str, end: str) -> str:
    """The end's time of day, and how many days after the start's day it is when it is not the same day."""
    start_day, end_day = start.split("T")[0], end.split("T")[0]
    days = (dt.date.fromisoformat(end_day) - dt.date.fromisoformat(start_day)).days if end_day != start_day else 0
    return end.split("T")[1] + (f" +{days}d" if days else "")


def _width(text: str) -> int:
    """Columns a terminal gives the text: wide East Asian characters take two, combining marks none."""
    if text.isascii():
        return len(text)
    import unicodedata

    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
               for ch in text)  # fmt: skip


def _bold() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
