"""`carepg seed`: generate a data set inside Postgres (set-based SQL from sql/seed/, no rows from Python)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from . import args, db, paths

if TYPE_CHECKING:
    import psycopg

# profile -> (file defining pg_temp.seed_<profile>(shifts, seed, reset), default number of shifts)
PROFILES = {"challenge": ("seed/challenge.sql", 2_000_000), "large": ("seed/large.sql", 20_000_000)}
CHALLENGE_SHIFTS = PROFILES["challenge"][1]
DEFAULT_SEED = 20230201
MAX_SHIFTS = 1_000_000_000  # "Shift".id is a 32-bit serial
# Seeds take turns on advisory lock ('care', 2) (the registry of keys: sql/shifts_private/locks.sql): a second seed
# waits, then finds the first one's data.
SEED_LOCK = (0x63617265, 2)


def check_profile(raw: str) -> str:
    return args.choice(raw, "profile", tuple(PROFILES))


def check_shifts(raw: str | int) -> int:
    return args.integer(raw, "--shifts", 0, MAX_SHIFTS)


def check_seed(raw: str | int) -> int:
    return args.integer(raw, "--seed", -(2**31), 2**31 - 1)


def seed(
    conn: psycopg.Connection,
    *,
    profile: str = "challenge",
    shifts: int | None = None,
    seed: int = DEFAULT_SEED,
    reset: bool = False,
) -> tuple[list[tuple[str, int]], float]:
    """Fill the challenge tables; returns the deterministic workers (profession, id) and the seconds it took.

    One transaction: a failure (or a refusal to overwrite data) leaves the database as it was.
    """
    from .shifts import refresh as refresh_eligibility

    sql_file, default_shifts = PROFILES[check_profile(profile)]
    shifts = check_shifts(default_shifts if shifts is None else shifts)
    seed = check_seed(seed)
    began = time.perf_counter()
    with db.translated_errors():
        with conn.transaction():
            # Two seeds at once would both find the tables empty: the second waits, then sees the first's data.
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", SEED_LOCK)
            conn.execute(paths.sql_text(sql_file))
            workers = conn.execute(
                f"SELECT profession, worker_id FROM pg_temp.seed_{profile}(%s, %s, %s)", (shifts, seed, reset)
            ).fetchall()
            conn.execute(f"DROP FUNCTION pg_temp.seed_{profile}(integer, integer, boolean)")
        # Fresh statistics so the planner (and the function's plan choice) sees the new sizes.
        # VACUUM as well when we may (outside a transaction): it sets the visibility map, which is what lets
        # the covering open-shift indexes answer pages without touching the table (index-only scans).
        conn.execute(
            ("VACUUM (ANALYZE) " if conn.autocommit else "ANALYZE ")
            + 'public."Worker", public."Facility", public."Document", public."FacilityRequirement",'
            ' public."DocumentWorker", public."Shift"'
        )
        # The seed deferred eligibility maintenance; fold everything into the view in one go.
        refresh_eligibility(conn, concurrently=False)
    return [(p, i) for p, i in workers], time.perf_counter() - began
