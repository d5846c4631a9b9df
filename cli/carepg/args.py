"""The argument policy's checks: every value a user gives carepg, checked before any work (errors.py states the
policy).

Each check takes the value as it was typed (a command-line word, an environment variable, a query parameter, or
a command's own default) and returns it parsed, or raises InvalidInput: one line naming the value, what was
wrong and what to give instead; exit code 7 in the CLI, 400 from the web app. The CLI's options and the web
app's query parameters that mean the same thing (a worker id, a window, a page size, a cursor) go through the
same check. Nothing here connects to anything, and nothing here is slow to import: the fast path of
`carepg shifts` (main.py) uses it too.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re

from .errors import InvalidInput

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on every command's start
if TYPE_CHECKING:
    from pathlib import Path

INT32_MAX = 2**31 - 1
MAX_ROWS = 1000  # a page's bound in shifts.available_shifts() and its siblings
MAX_PER_DAY = 100  # shifts.available_shifts_by_day()'s bound
CLI_PAGE = 20  # rows per page of `carepg shifts` and `carepg claims` unless --limit says otherwise
SHOWN_MAX = 80  # characters of a user's value echoed in a message

_ID = re.compile(r"[0-9]{1,10}")
_INTEGER = re.compile(r"[+-]?[0-9]{1,19}")


def shown(value: str, limit: int = SHOWN_MAX) -> str:
    """A user's value for a message: at most `limit` characters, quoted (repr escapes what a terminal would
    act on)."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


def identifier(raw: str | int, what: str) -> int:
    """An id of a worker or a shift: an integer from 1 to 2**31 - 1, ASCII digits only (no sign, no spaces,
    no other scripts' digits)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str) or not _ID.fullmatch(raw) or not 1 <= int(raw) <= INT32_MAX:
        raise InvalidInput(f"invalid {what} {shown(str(raw))}: it must be an integer from 1 to {INT32_MAX}")
    return int(raw)


def worker_id(raw: str | int) -> int:
    return identifier(raw, "worker id")


def shift_id(raw: str | int) -> int:
    return identifier(raw, "shift id")


def integer(raw: str | int, what: str, low: int, high: int) -> int:
    """A whole number from `low` to `high`, written in ASCII digits (a sign allowed when `low` is negative)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    pattern = _INTEGER if low < 0 else _ID
    if not isinstance(raw, str) or not pattern.fullmatch(raw) or not low <= int(raw) <= high:
        raise InvalidInput(f"invalid {what} {shown(str(raw))}: it must be an integer from {low} to {high}")
    return int(raw)


def limit(raw: str | int) -> int:
    """A page's size."""
    return integer(raw, "limit", 1, MAX_ROWS)


def per_day(raw: str | int) -> int:
    return integer(raw, "per_day", 1, MAX_PER_DAY)


def seconds(raw: str | float, what: str, low: float, high: float) -> float:
    """A duration in seconds, a decimal number from `low` to `high` (not nan, not inf)."""
    try:
        value = float(raw.strip()) if isinstance(raw, str) else float(raw)
    except (ValueError, TypeError):
        value = math.nan
    if not (math.isfinite(value) and low <= value <= high):
        raise InvalidInput(f"invalid {what} {shown(str(raw))}: give a number of seconds from {low:g} to {high:,g}")
    return value


def choice(raw: str, what: str, choices: tuple[str, ...]) -> str:
    if raw not in choices:
        raise InvalidInput(f"unknown {what} {shown(raw)}: choose one of {', '.join(choices)}")
    return raw


def timestamp(value: str | None, what: str) -> dt.datetime | None:
    """ISO 8601 date or date-time, or `now` (no time zone: the challenge stores naive UTC timestamps)."""
    if value is None or value == "":
        return None
    if value.strip().lower() == "now":
        return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    try:
        parsed = dt.datetime.fromisoformat(value)
        if parsed.tzinfo is not None:
            # OverflowError: an offset that moves year 1 or 9999 out of range.
            parsed = parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise InvalidInput(f"invalid {what} {shown(value)}: use YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] or now") from None
    return parsed


def window(start_from: str | None, start_to: str | None, names: tuple[str, str]) -> dict:
    """A window on start as the keyword arguments of shifts.page() and its siblings: `start_from` <= start <
    `start_to`, either end open; `names` are what the caller calls the two (--from/--to, from/to)."""
    parsed = {"start_from": timestamp(start_from, names[0]), "start_to": timestamp(start_to, names[1])}
    low, high = parsed["start_from"], parsed["start_to"]
    if low is not None and high is not None and low > high:  # said as the SQL functions say it (CP400)
        raise InvalidInput(f"start_from ({_as_sql(low)}) is after start_to ({_as_sql(high)}) (the window is "
                           f"start_from <= start < start_to)")  # fmt: skip
    return parsed


def _as_sql(value: dt.datetime) -> str:
    """A timestamp as PostgreSQL prints one: no trailing zeros in the fraction."""
    text = value.isoformat(sep=" ")
    return text.rstrip("0").rstrip(".") if value.microsecond else text


def page_cursor(raw: str | None) -> str | None:
    """A cursor printed by a previous page (None or empty: the first page), checked; returned as it was given."""
    if raw:
        from . import cursor

        cursor.decode(raw)
    return raw or None


def port(raw: str | int, what: str, low: int = 1) -> int:
    return integer(raw, what, low, 65535)


def database_url_syntax() -> None:
    """DATABASE_URL, when set, must be a connection string libpq can read (checked, not connected)."""
    from . import db

    db.database_url()


def local_port() -> int:
    """CAREPG_PORT, the local cluster's port (default 55432): 1024-65535, so never a privileged one."""
    raw = os.environ.get("CAREPG_PORT") or "55432"  # cluster.DEFAULT_PORT
    if not (raw.isascii() and raw.isdigit() and 1024 <= int(raw) <= 65535):
        raise InvalidInput(f"invalid CAREPG_PORT {shown(raw, 40)}: give a TCP port number from 1024 to 65535")
    return int(raw)


def environment() -> None:
    """The settings every command that uses a database reads: DATABASE_URL's syntax and CAREPG_PORT."""
    database_url_syntax()
    local_port()


def writable_file(raw: str | Path, what: str) -> Path:
    """A file to write: a name in a directory that exists (the file itself may not exist yet)."""
    from pathlib import Path

    path = Path(raw)
    text = str(raw)
    if not text or text.endswith(("/", os.sep)) or path.name in ("", ".", ".."):
        raise InvalidInput(f"invalid {what} {shown(text)}: give a file name")
    try:
        parent_ok = path.absolute().parent.is_dir()
    except (OSError, ValueError):  # a name too long, a NUL
        parent_ok = False
    if not parent_ok:
        raise InvalidInput(f"invalid {what} {shown(text)}: its directory does not exist")
    if path.is_dir():
        raise InvalidInput(f"invalid {what} {shown(text)}: it is a directory")
    return path


# pg_cron's schedules: five cron fields (numbers, names, * , - / and $), a @-keyword, or "N seconds".
_CRON = r"\s*(?:[0-9A-Za-z*,/$-]+\s+){4}[0-9A-Za-z*,/$-]+\s*|\s*@[a-z]+\s*|\s*[1-9][0-9]? seconds?\s*"


def cron_schedule(raw: str) -> str:
    """A pg_cron schedule, by its shape (pg_cron itself checks the fields' values)."""
    if len(raw) > 200 or not re.fullmatch(_CRON, raw, re.ASCII):
        raise InvalidInput(f"invalid --schedule {shown(raw)}: give a cron schedule such as '*/5 * * * *' "
                           f"(minute hour day month weekday) or '30 seconds'")  # fmt: skip
    return raw
