"""`carepg seed`: generate a data set inside Postgres (set-based SQL from sql/seed/, no rows from Python)."""

from __future__ import annotations

import time

import psycopg

from . import db, paths
from . import shifts as shifts_api
from .errors import InvalidInput

PROFILES = {"challenge": "seed/challenge.sql"}
CHALLENGE_SHIFTS = 2_000_000
DEFAULT_SEED = 20230201


def seed(
    conn: psycopg.Connection,
    *,
    profile: str = "challenge",
    shifts: int = CHALLENGE_SHIFTS,
    seed: int = DEFAULT_SEED,
    reset: bool = False,
) -> tuple[list[tuple[str, int]], float]:
    """Fill the challenge tables; returns the deterministic workers (profession, id) and the seconds it took.

    One transaction: a failure (or a refusal to overwrite data) leaves the database as it was.
    """
    if profile not in PROFILES:
        raise InvalidInput(f"unknown profile {profile!r}: choose one of {', '.join(sorted(PROFILES))}")
    if shifts < 0:
        raise InvalidInput(f"invalid --shifts {shifts}: it must be zero or more")
    began = time.perf_counter()
    with db.translated_errors():
        with conn.transaction():
            conn.execute(paths.sql_text(PROFILES[profile]))
            workers = conn.execute(
                "SELECT profession, worker_id FROM pg_temp.seed_challenge(%s, %s, %s)", (shifts, seed, reset)
            ).fetchall()
            conn.execute("DROP FUNCTION pg_temp.seed_challenge(integer, integer, boolean)")
        # Fresh statistics so the planner (and the function's plan choice) sees the new sizes.
        conn.execute(
            'ANALYZE public."Worker", public."Facility", public."Document", public."FacilityRequirement",'
            ' public."DocumentWorker", public."Shift"'
        )
        # The seed deferred eligibility maintenance; fold everything into the view in one go.
        shifts_api.refresh(conn, concurrently=False)
    return [(p, i) for p, i in workers], time.perf_counter() - began
