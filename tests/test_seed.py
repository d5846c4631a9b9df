"""`carepg seed --profile challenge`: the challenge's distribution, reproducible, and careful with data."""

from __future__ import annotations

import math

import psycopg
import pytest

from carepg import seed
from carepg.errors import Conflict

SHIFTS = 30_000


def one(conn, sql, *args):
    return conn.execute(sql, args).fetchone()[0]


def within(observed: float, n: int, p: float) -> bool:
    """Within six standard deviations of a Binomial(n, p) mean: fails by chance about once in 10^9."""
    return abs(observed - n * p) <= 6 * math.sqrt(n * p * (1 - p))


@pytest.fixture
def seeded(postgresql: psycopg.Connection):
    postgresql.autocommit = True
    workers, _ = seed.seed(postgresql, shifts=SHIFTS, seed=42)
    return postgresql, workers


def test_cardinalities_match_the_challenge_seed(seeded):
    conn, workers = seeded
    counts = conn.execute(
        'SELECT (SELECT count(*) FROM "Document"), (SELECT count(*) FROM "Facility"), (SELECT count(*) FROM "Worker"),'
        ' (SELECT count(*) FROM "FacilityRequirement"), (SELECT count(*) FROM "DocumentWorker"),'
        ' (SELECT count(*) FROM "Shift")'
    ).fetchone()
    assert counts == (10, 10, 103, 2000, 530, SHIFTS)
    # With replacement: 2,000 draws over 100 (facility, document) pairs must repeat pairs.
    distinct = one(conn, 'SELECT count(DISTINCT (facility_id, document_id)) FROM "FacilityRequirement"')
    assert distinct < 2000


def test_deterministic_workers(seeded):
    conn, workers = seeded
    assert [p for p, _ in workers] == ["CNA", "LVN", "RN"]
    ids = [i for _, i in workers]
    assert ids == [101, 102, 103]  # ids on a fresh database, as the original seed prints them
    for worker_id in ids:
        assert one(conn, 'SELECT is_active FROM "Worker" WHERE id = %s', worker_id) is True
        held = one(conn, 'SELECT count(DISTINCT document_id) FROM "DocumentWorker" WHERE worker_id = %s', worker_id)
        assert held == 10
        assert one(conn, 'SELECT count(*) FROM "Shift" WHERE worker_id = %s', worker_id) == 0


def test_shift_times_follow_the_challenge(seeded):
    conn, _ = seeded
    row = conn.execute("""
        SELECT min(start)::date, max(start)::date, count(DISTINCT start::date),
               array_agg(DISTINCT extract(hour FROM start)::int ORDER BY extract(hour FROM start)::int),
               bool_and("end" = start + interval '5 hours'),
               bool_and(extract(minute FROM start) = 0),
               count(*) FILTER (WHERE extract(milliseconds FROM start)::numeric % 1000 <> 0)
        FROM "Shift"
    """).fetchone()
    first, last, days, hours, five_hours, on_the_hour, with_millis = row
    assert str(first) == "2023-02-01" and str(last) == "2023-03-03" and days == 31
    assert hours == [5, 13, 20]
    assert five_hours and on_the_hour
    assert with_millis > SHIFTS * 0.9  # the stray milliseconds of seed.ts


def test_flags_are_fair_coins(seeded):
    conn, _ = seeded
    deleted = one(conn, 'SELECT count(*) FROM "Shift" WHERE is_deleted')
    claimed = one(conn, 'SELECT count(*) FROM "Shift" WHERE worker_id IS NOT NULL')
    assert within(deleted, SHIFTS, 0.5) and within(claimed, SHIFTS, 0.5)
    for profession in ("CNA", "LVN", "RN"):
        assert within(one(conn, 'SELECT count(*) FROM "Shift" WHERE profession = %s', profession), SHIFTS, 1 / 3)
    per_facility = conn.execute('SELECT count(*) FROM "Shift" GROUP BY facility_id').fetchall()
    assert len(per_facility) == 10 and all(within(n, SHIFTS, 0.1) for (n,) in per_facility)
    claimers = one(conn, 'SELECT count(DISTINCT worker_id) FROM "Shift" WHERE worker_id > 100')
    assert claimers == 0  # only the 100 random workers ever hold shifts


def fingerprint(conn) -> str:
    return one(conn, """SELECT md5(string_agg(t, '|')) FROM (
        SELECT (SELECT string_agg(x::text, ',' ORDER BY id) FROM "Worker" x) AS t
        UNION ALL SELECT (SELECT string_agg(x::text, ',' ORDER BY id) FROM "FacilityRequirement" x)
        UNION ALL SELECT (SELECT string_agg(x::text, ',' ORDER BY id) FROM "Shift" x)) s""")


def test_same_seed_same_data_other_seed_other_data(postgresql):
    postgresql.autocommit = True
    seed.seed(postgresql, shifts=2000, seed=7)
    first = fingerprint(postgresql)
    seed.seed(postgresql, shifts=2000, seed=7, reset=True)
    assert fingerprint(postgresql) == first
    seed.seed(postgresql, shifts=2000, seed=8, reset=True)
    assert fingerprint(postgresql) != first


def test_refuses_a_non_empty_database_and_changes_nothing(postgresql):
    postgresql.autocommit = True
    seed.seed(postgresql, shifts=100, seed=1)
    before = fingerprint(postgresql)
    with pytest.raises(Conflict, match="already holds challenge data"):
        seed.seed(postgresql, shifts=100, seed=2)
    assert fingerprint(postgresql) == before


def test_reset_restarts_ids(postgresql):
    postgresql.autocommit = True
    seed.seed(postgresql, shifts=10, seed=1)
    workers, _ = seed.seed(postgresql, shifts=10, seed=1, reset=True)
    assert [i for _, i in workers] == [101, 102, 103]


@pytest.mark.slow
def test_large_profile_has_the_documented_shape(postgresql: psycopg.Connection):
    """`--profile large` at a token number of shifts: the cardinalities and ranges README "Seed" promises."""
    postgresql.autocommit = True
    workers, _ = seed.seed(postgresql, profile="large", shifts=5_000, seed=3)
    assert workers == []
    counts = postgresql.execute(
        'SELECT (SELECT count(*) FROM "Document"), (SELECT count(*) FROM "Facility"), (SELECT count(*) FROM "Worker"),'
        ' (SELECT count(*) FROM "Shift")'
    ).fetchone()
    assert counts == (50, 2000, 100_000, 5_000)
    # Every facility requires 5-15 distinct documents, exactly one of them a state licence.
    low, high, licences = postgresql.execute(
        "SELECT min(n), max(n), bool_and(licences = 1) FROM (SELECT facility_id, count(DISTINCT document_id) AS n,"
        " count(*) FILTER (WHERE d.name LIKE 'State licence%%') AS licences FROM \"FacilityRequirement\" r"
        ' JOIN "Document" d ON d.id = r.document_id GROUP BY facility_id) AS f'
    ).fetchone()
    assert (low, high, licences) == (5, 15, True)
    # Shifts span the year around today; the view is a small fraction of all active pairs.
    span = one(postgresql, 'SELECT max(start)::date - min(start)::date FROM "Shift"')
    assert 350 <= span <= 365
    pairs, possible = postgresql.execute(
        'SELECT (SELECT count(*) FROM shifts_private.eligible_pair), (SELECT count(*) FROM "Worker" WHERE is_active)'
        ' * (SELECT count(*) FROM "Facility" WHERE is_active)'
    ).fetchone()
    assert 0 < pairs < possible * 0.05
    # The view equals the definition it replaced (0003's double NOT EXISTS), pair for pair, for a sample.
    differing = one(
        postgresql,
        "SELECT count(*) FROM \"Worker\" w CROSS JOIN \"Facility\" f WHERE w.id %% 5000 = 1 AND w.is_active"
        " AND f.is_active AND shifts.docs_ok(w.id, f.id)"
        " <> EXISTS (SELECT FROM shifts_private.eligible_pair e WHERE e.worker_id = w.id AND e.facility_id = f.id)",
    )
    assert differing == 0
