"""Eligibility is never stale: after every mutation, with no refresh, the function equals the reference.

Hypothesis draws small marketplaces (duplicates, facilities without requirements, inactive everything,
overlapping claims) and sequences of mutations; after each one, every worker's answer — read page by page
and through a window — must be exactly what tests/reference.py computes from the live tables.

`make test` runs a bounded number of examples; set CAREPG_HYPOTHESIS_EXAMPLES (e.g. 2000) for a long run.
"""

from __future__ import annotations

import datetime as dt
import os
import random

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference import World

EXAMPLES = int(os.environ.get("CAREPG_HYPOTHESIS_EXAMPLES", "30"))
T0 = dt.datetime(2023, 2, 1, 5, 0)
PROFESSIONS = ["CNA", "LVN", "RN"]

small = st.integers(min_value=0, max_value=1000)  # an index into whatever rows exist, taken modulo

shift_spec = st.tuples(
    st.integers(0, 11),  # start hour offset: overlaps are frequent
    st.integers(1, 4),  # hours long
    st.sampled_from(PROFESSIONS),
    st.booleans(),  # deleted
    small,  # facility
    st.one_of(st.none(), small),  # claimed by
)

world_spec = st.fixed_dictionaries({
    # Few entities, many mutations: sequences that revisit the same pair are what break caches.
    "documents": st.lists(st.booleans(), min_size=1, max_size=3),
    "facilities": st.lists(st.booleans(), min_size=1, max_size=2),
    "workers": st.lists(st.tuples(st.booleans(), st.sampled_from(PROFESSIONS)), min_size=1, max_size=2),
    "requirements": st.lists(st.tuples(small, small), max_size=8),
    "holdings": st.lists(st.tuples(small, small), max_size=10),
    "shifts": st.lists(shift_spec, min_size=1, max_size=14),
})  # fmt: skip

MUTATIONS = {
    "hold": st.tuples(st.just("hold"), small, small),
    "unhold": st.tuples(st.just("unhold"), small),
    "rehold": st.tuples(st.just("rehold"), small, small),  # UPDATE a holding's document
    "require": st.tuples(st.just("require"), small, small),
    "unrequire": st.tuples(st.just("unrequire"), small),
    "toggle_worker": st.tuples(st.just("toggle_worker"), small),
    "toggle_facility": st.tuples(st.just("toggle_facility"), small),
    "claim": st.tuples(st.just("claim"), small, small),
    "unclaim": st.tuples(st.just("unclaim"), small),
    # Through the write path: the outcome must be what the reference says, and the rest as always.
    "claim_fn": st.tuples(st.just("claim_fn"), small, small),
    "release_fn": st.tuples(st.just("release_fn"), small, small),
    "delete_shift": st.tuples(st.just("delete_shift"), small),
    "restore_shift": st.tuples(st.just("restore_shift"), small),
    "move_shift": st.tuples(st.just("move_shift"), small, st.integers(0, 11)),  # another start hour
    "new_shift": st.tuples(st.just("new_shift"), shift_spec),
    "new_worker": st.tuples(st.just("new_worker"), st.booleans(), st.sampled_from(PROFESSIONS)),
    "new_facility": st.tuples(st.just("new_facility"), st.booleans()),
    "profession": st.tuples(st.just("profession"), small, st.sampled_from(PROFESSIONS)),
    "refresh": st.tuples(st.just("refresh"), st.booleans()),
}


@st.composite
def mutation_sequences(draw):
    """Swarm testing: each example enables only a few kinds of mutation, so the rare orderings that matter
    (deactivate, change a requirement, reactivate) come up often instead of once in thousands of runs."""
    kinds = draw(st.lists(st.sampled_from(sorted(MUTATIONS)), min_size=1, max_size=4, unique=True))
    return draw(st.lists(st.one_of([MUTATIONS[k] for k in kinds]), min_size=3, max_size=30))


def ids(conn, table: str) -> list[int]:
    return [r[0] for r in conn.execute(psycopg.sql.SQL("SELECT id FROM {} ORDER BY id").format(
        psycopg.sql.Identifier(table))).fetchall()]  # fmt: skip


def pick(rows: list[int], n: int) -> int | None:
    return rows[n % len(rows)] if rows else None


def build(conn, spec) -> None:
    conn.execute('TRUNCATE "Shift", "DocumentWorker", "FacilityRequirement", "Worker", "Facility", "Document"'
                 " RESTART IDENTITY")  # fmt: skip
    for active in spec["documents"]:
        conn.execute('INSERT INTO "Document" (name, is_active) VALUES (%s, %s)', ("d", active))
    for active in spec["facilities"]:
        conn.execute('INSERT INTO "Facility" (name, is_active) VALUES (%s, %s)', ("f", active))
    for active, profession in spec["workers"]:
        conn.execute('INSERT INTO "Worker" (name, is_active, profession) VALUES (%s, %s, %s)',
                     ("w", active, profession))  # fmt: skip
    docs, facs, workers = ids(conn, "Document"), ids(conn, "Facility"), ids(conn, "Worker")
    for f, d in spec["requirements"]:
        conn.execute('INSERT INTO "FacilityRequirement" (facility_id, document_id) VALUES (%s, %s)',
                     (pick(facs, f), pick(docs, d)))  # fmt: skip
    for w, d in spec["holdings"]:
        conn.execute('INSERT INTO "DocumentWorker" (worker_id, document_id) VALUES (%s, %s)',
                     (pick(workers, w), pick(docs, d)))  # fmt: skip
    for s in spec["shifts"]:
        insert_shift(conn, s, facs, workers)
    conn.execute("SELECT shifts.refresh_eligibility(false)")  # a clean start: view current, no patches


def insert_shift(conn, spec, facs, workers) -> None:
    hour, hours, profession, deleted, f, w = spec
    start = T0 + dt.timedelta(hours=hour, milliseconds=hour * 7)
    conn.execute(
        'INSERT INTO "Shift" (start, "end", profession, is_deleted, facility_id, worker_id)'
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (start, start + dt.timedelta(hours=hours), profession, deleted, pick(facs, f),
         None if w is None else pick(workers, w)),
    )  # fmt: skip


def apply(conn, op) -> None:
    kind, *args = op
    docs, facs, workers = ids(conn, "Document"), ids(conn, "Facility"), ids(conn, "Worker")
    holdings, requirements, shift_ids = ids(conn, "DocumentWorker"), ids(conn, "FacilityRequirement"), ids(conn, "Shift")
    run = conn.execute
    if kind == "hold":
        run('INSERT INTO "DocumentWorker" (worker_id, document_id) VALUES (%s, %s)',
            (pick(workers, args[0]), pick(docs, args[1])))  # fmt: skip
    elif kind == "unhold" and holdings:
        run('DELETE FROM "DocumentWorker" WHERE id = %s', (pick(holdings, args[0]),))
    elif kind == "rehold" and holdings:
        run('UPDATE "DocumentWorker" SET document_id = %s WHERE id = %s', (pick(docs, args[1]), pick(holdings, args[0])))
    elif kind == "require":
        run('INSERT INTO "FacilityRequirement" (facility_id, document_id) VALUES (%s, %s)',
            (pick(facs, args[0]), pick(docs, args[1])))  # fmt: skip
    elif kind == "unrequire" and requirements:
        run('DELETE FROM "FacilityRequirement" WHERE id = %s', (pick(requirements, args[0]),))
    elif kind == "toggle_worker":
        run('UPDATE "Worker" SET is_active = NOT is_active WHERE id = %s', (pick(workers, args[0]),))
    elif kind == "toggle_facility":
        run('UPDATE "Facility" SET is_active = NOT is_active WHERE id = %s', (pick(facs, args[0]),))
    elif kind == "claim":
        run('UPDATE "Shift" SET worker_id = %s WHERE id = %s', (pick(workers, args[1]), pick(shift_ids, args[0])))
    elif kind == "unclaim":
        run('UPDATE "Shift" SET worker_id = NULL WHERE id = %s', (pick(shift_ids, args[0]),))
    elif kind in ("claim_fn", "release_fn"):
        write_path(conn, kind, args[0], pick_or_unknown(workers, args[1]), shift_ids)
    elif kind == "delete_shift":
        run('UPDATE "Shift" SET is_deleted = true WHERE id = %s', (pick(shift_ids, args[0]),))
    elif kind == "restore_shift":
        run('UPDATE "Shift" SET is_deleted = false WHERE id = %s', (pick(shift_ids, args[0]),))
    elif kind == "move_shift":
        start = T0 + dt.timedelta(hours=args[1] % 12)  # still on T0's day, as the checks expect
        run('UPDATE "Shift" SET start = %s, "end" = %s + ("end" - start) WHERE id = %s',
            (start, start, pick(shift_ids, args[0])))  # fmt: skip
    elif kind == "new_shift":
        insert_shift(conn, args[0], facs, workers)
    elif kind == "new_worker":
        run('INSERT INTO "Worker" (name, is_active, profession) VALUES (%s, %s, %s)', ("w", *args))
    elif kind == "new_facility":
        run('INSERT INTO "Facility" (name, is_active) VALUES (%s, %s)', ("f", args[0]))
    elif kind == "profession":
        run('UPDATE "Worker" SET profession = %s WHERE id = %s', (args[1], pick(workers, args[0])))
    elif kind == "refresh":
        run("SELECT shifts.refresh_eligibility(%s)", (args[0],))


def pick_or_unknown(rows: list[int], n: int) -> int:
    """Mostly an existing id; now and then one that does not exist."""
    return 10**6 + n if n % 13 == 12 or not rows else pick(rows, n)


def write_path(conn, kind: str, n: int, worker_id: int, shift_ids: list[int]) -> None:
    """Claim or release through the functions; the outcome must be the reference's, and a claim must succeed
    exactly when available_shifts offers the shift (or the worker already holds it)."""
    world = World.load(conn)
    # Every third time, a shift that will succeed (one offered to the worker, or one they hold), if any:
    # uniform picks are mostly refusals.
    likely = (world.available(worker_id) if kind == "claim_fn" else world.claimed(worker_id)) \
        if worker_id in world.workers and n % 3 == 2 else []
    shift_id = pick(likely, n // 3) if likely else pick_or_unknown(shift_ids, n)
    if kind == "claim_fn":
        expected = world.claim_outcome(worker_id, shift_id)
        offered = worker_id in world.workers and shift_id in world.available(worker_id)
        assert (expected == "claimed") == offered
        sql = "SELECT newly_claimed FROM shifts.claim_shift(%s, %s)"
    else:
        expected = world.release_outcome(worker_id, shift_id)
        sql = "SELECT shifts.release_shift(%s, %s)"
    try:
        with conn.transaction():
            row = conn.execute(sql, (worker_id, shift_id)).fetchone()
        got = ("claimed" if row[0] else "held") if kind == "claim_fn" else "released"
    except psycopg.Error as err:
        detail = err.diag.message_detail
        got = f"{err.sqlstate}:{detail}" if detail else str(err.sqlstate)
    assert got == expected, f"{kind}(worker {worker_id}, shift {shift_id})"
    holder = conn.execute('SELECT worker_id FROM "Shift" WHERE id = %s', (shift_id,)).fetchone()
    if got in ("claimed", "held"):
        assert holder == (worker_id,)
    elif got == "released":
        assert holder == (None,)
    else:  # refused: nothing changed
        assert holder == ((world.shift(shift_id).worker_id,) if world.shift(shift_id) else None)


def paged(conn, worker_id: int, page_size: int, start_from=None, start_to=None,
          function: str = "available_shifts") -> list[int]:
    seen, after = [], (None, None)
    while True:
        rows = conn.execute(
            f"SELECT shift_id, start FROM shifts.{function}(%s, %s, %s, %s, %s, %s)",
            (worker_id, start_from, start_to, after[1], after[0], page_size),
        ).fetchall()
        seen += [r[0] for r in rows]
        if len(rows) < page_size:
            return seen
        after = rows[-1]


def check_every_worker(conn) -> None:
    world = World.load(conn)
    window = (T0 + dt.timedelta(hours=3), T0 + dt.timedelta(hours=8))
    active_facilities = {f for f, active in world.facilities.items() if active}
    for worker_id in world.workers:
        if world.workers[worker_id][0]:  # the eligibility itself, whether or not a shift exercises it
            ids = conn.execute("SELECT shifts.eligible_facility_ids(%s)", (worker_id,)).fetchone()[0]
            assert set(ids) & active_facilities == world.eligible_facilities(worker_id), f"worker {worker_id}"
        expected = world.available(worker_id)
        assert paged(conn, worker_id, 3) == expected, f"worker {worker_id}"
        assert paged(conn, worker_id, 2, *window) == world.available(worker_id, *window), f"worker {worker_id}"
        total = conn.execute("SELECT shifts.count_available_shifts(%s)", (worker_id,)).fetchone()[0]
        assert total == len(expected)
        assert paged(conn, worker_id, 2, function="claimed_shifts") == world.claimed(worker_id)
        assert paged(conn, worker_id, 2, *window, function="claimed_shifts") == world.claimed(worker_id, *window)
        # The calendar's read: every shift here starts on T0's day, so one day with its count and first two.
        by_day = conn.execute("SELECT day, day_total, shift_id FROM shifts.available_shifts_by_day(%s, %s, %s, 2)",
                              (worker_id, T0.replace(hour=0), T0.replace(hour=0) + dt.timedelta(days=2))).fetchall()
        assert by_day == [(T0.date(), len(expected), i) for i in expected[:2]], f"worker {worker_id}"


@pytest.fixture(params=["per_facility", "walk"])
def conn(request, db_url):
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("SELECT set_config('carepg.available_shifts_plan', %s, false)", (request.param,))
        yield c


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=world_spec, mutations=mutation_sequences())
def test_every_mutation_is_visible_in_the_very_next_call(conn, spec, mutations):
    build(conn, spec)
    check_every_worker(conn)
    for op in mutations:
        apply(conn, op)
        check_every_worker(conn)


WALK_STEPS = int(os.environ.get("CAREPG_RANDOM_WALK_STEPS", "120"))


def random_mutation(rng: random.Random):
    kind = rng.choice(sorted(MUTATIONS))
    n = lambda: rng.randrange(1000)  # noqa: E731
    shift = (rng.randrange(12), rng.randrange(1, 5), rng.choice(PROFESSIONS), rng.random() < 0.3, n(),
             None if rng.random() < 0.6 else n())  # fmt: skip
    return {
        "new_shift": (kind, shift),
        "new_worker": (kind, rng.random() < 0.7, rng.choice(PROFESSIONS)),
        "new_facility": (kind, rng.random() < 0.7),
        "profession": (kind, n(), rng.choice(PROFESSIONS)),
        "refresh": (kind, rng.random() < 0.5),
    }.get(kind, (kind, n(), n()))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_long_random_walks_match_the_reference(conn, seed):
    """Complements hypothesis: a seeded random walk of many uniform mutations on one small marketplace,
    which reaches deep sequences (deactivate, change requirements, reactivate, refresh...) cheaply."""
    rng = random.Random(seed)
    spec = {
        "documents": [True, False, True],
        "facilities": [True, True],
        "workers": [(True, "CNA"), (True, "CNA")],
        "requirements": [(0, 0)],
        "holdings": [(0, 0), (1, 1)],
        "shifts": [(h, 2, "CNA", False, h, None) for h in range(0, 12, 2)],
    }
    build(conn, spec)
    for step in range(WALK_STEPS):
        op = random_mutation(rng)
        if op[0] in {"unhold", "unrequire", "toggle_worker", "toggle_facility", "unclaim", "delete_shift",
                     "restore_shift"}:  # fmt: skip
            op = op[:2]
        apply(conn, op)
        check_every_worker(conn)


def test_a_writer_sees_its_own_change_before_committing(db_url):
    with psycopg.connect(db_url) as conn:
        conn.autocommit = True
        doc = conn.execute("""INSERT INTO "Document" (name, is_active) VALUES ('licence', true) RETURNING id""").fetchone()[0]
        fac = conn.execute("""INSERT INTO "Facility" (name, is_active) VALUES ('f', true) RETURNING id""").fetchone()[0]
        conn.execute('INSERT INTO "FacilityRequirement" (facility_id, document_id) VALUES (%s, %s)', (fac, doc))
        w = conn.execute("""INSERT INTO "Worker" (name, is_active, profession) VALUES ('w', true, 'RN') RETURNING id""").fetchone()[0]
        conn.execute("""INSERT INTO "Shift" (start, "end", profession, facility_id) VALUES (%s, %s, 'RN', %s)""",
                     (T0, T0 + dt.timedelta(hours=5), fac))  # fmt: skip
        conn.execute("SELECT shifts.refresh_eligibility(false)")
        count = lambda c: c.execute("SELECT count(*) FROM shifts.available_shifts(%s)", (w,)).fetchone()[0]  # noqa: E731
        assert count(conn) == 0

        conn.autocommit = False
        conn.execute('INSERT INTO "DocumentWorker" (worker_id, document_id) VALUES (%s, %s)', (w, doc))
        assert count(conn) == 1  # inside the writer's own, uncommitted transaction
        with psycopg.connect(db_url, autocommit=True) as other:
            assert count(other) == 0  # nobody else sees it yet
        conn.rollback()
        assert count(conn) == 0


def test_bulk_changes_fall_back_to_live_answers_until_a_refresh(db_url):
    with psycopg.connect(db_url, autocommit=True) as conn:
        fac = conn.execute("""INSERT INTO "Facility" (name, is_active) VALUES ('f', true) RETURNING id""").fetchone()[0]
        w = conn.execute("""INSERT INTO "Worker" (name, is_active, profession) VALUES ('w', true, 'CNA') RETURNING id""").fetchone()[0]
        doc = conn.execute("""INSERT INTO "Document" (name, is_active) VALUES ('d', true) RETURNING id""").fetchone()[0]
        conn.execute("""INSERT INTO "Shift" (start, "end", profession, facility_id) VALUES (%s, %s, 'CNA', %s)""",
                     (T0, T0 + dt.timedelta(hours=5), fac))  # fmt: skip
        conn.execute("SELECT shifts.refresh_eligibility(false)")
        stale = lambda: conn.execute("SELECT live_everywhere FROM shifts.eligibility_status()").fetchone()[0]  # noqa: E731
        available = lambda: conn.execute("SELECT count(*) FROM shifts.available_shifts(%s)", (w,)).fetchone()[0]  # noqa: E731
        assert available() == 1 and not stale()

        with conn.transaction():  # a bulk load that skips maintenance
            conn.execute("SET LOCAL carepg.eligibility_maintenance = 'deferred'")
            conn.execute('INSERT INTO "FacilityRequirement" (facility_id, document_id) VALUES (%s, %s)', (fac, doc))
        assert stale() and available() == 0  # answered live, so still exact

        conn.execute('TRUNCATE "FacilityRequirement"')
        assert stale() and available() == 1
        conn.execute("SELECT shifts.refresh_eligibility()")
        assert not stale() and available() == 1


# Sequences found by reasoning about the triggers, pinned so they run every time (the random searches above
# reach them only rarely). Each step is a mutation in the `apply` vocabulary; the reference checks after each.
TRICKY = {
    # document 2 is held by nobody
    "requirement added while the worker was inactive": [("toggle_worker", 0), ("require", 1, 2), ("toggle_worker", 0)],
    "requirement added while the facility was inactive": [("toggle_facility", 1), ("require", 1, 2),
                                                          ("toggle_facility", 1)],
    "requirement removed while the worker was inactive": [("toggle_worker", 1), ("unrequire", 0),
                                                          ("toggle_worker", 1)],
    "documents gained while inactive": [("toggle_worker", 1), ("hold", 1, 0), ("toggle_worker", 1)],
    "documents lost while inactive": [("toggle_worker", 0), ("unhold", 0), ("toggle_worker", 0)],
    "refresh while inactive, then reactivate": [("toggle_worker", 0), ("refresh", True), ("toggle_worker", 0)],
    "facility inactive at refresh, then activated": [("toggle_facility", 0), ("refresh", False),
                                                     ("toggle_facility", 0)],
    "a holding moved to another document": [("rehold", 0, 1), ("rehold", 0, 0)],
    "new worker and new facility": [("new_worker", True, "CNA"), ("new_facility", True),
                                    ("new_shift", (1, 2, "CNA", False, 2, None)), ("require", 2, 2)],
    "claims that overlap": [("claim", 1, 0), ("claim", 2, 1), ("unclaim", 1), ("delete_shift", 2)],
    # The write path: (kind, shift, worker)
    "a claim hides what it overlaps, its release shows it again": [("claim_fn", 1, 0), ("claim_fn", 0, 0),
                                                                   ("release_fn", 1, 0), ("claim_fn", 0, 0)],
    "held while deactivated: a retry is still fine, a new claim is not": [
        ("claim_fn", 0, 0), ("toggle_worker", 0), ("claim_fn", 0, 0), ("claim_fn", 3, 0), ("release_fn", 0, 0),
        ("toggle_worker", 0), ("claim_fn", 3, 0)],
    "a new requirement refuses, the document lets in": [("require", 1, 1), ("claim_fn", 1, 0), ("hold", 0, 1),
                                                        ("claim_fn", 1, 0), ("claim_fn", 1, 1)],
    "another profession, then the worker's own": [("new_shift", (8, 2, "RN", False, 1, None)), ("claim_fn", 4, 0),
                                                   ("profession", 0, "RN"), ("claim_fn", 4, 0)],
    "another worker's shift, a deleted one, an unknown one": [("claim_fn", 1, 1), ("claim_fn", 1, 0),
                                                              ("delete_shift", 2), ("claim_fn", 2, 0),
                                                              ("claim_fn", 12, 0), ("release_fn", 1, 0)],
}


@pytest.mark.parametrize("steps", TRICKY.values(), ids=TRICKY.keys())
def test_tricky_sequences(conn, steps):
    build(conn, {
        "documents": [True, False, True],
        "facilities": [True, True],
        "workers": [(True, "CNA"), (True, "CNA")],
        "requirements": [(0, 0)],
        "holdings": [(0, 0), (1, 1)],
        "shifts": [(0, 2, "CNA", False, 0, None), (1, 2, "CNA", False, 1, None), (3, 2, "CNA", False, 1, None),
                   (5, 2, "CNA", False, 0, None)],
    })  # fmt: skip
    check_every_worker(conn)
    for op in steps:
        apply(conn, op)
        check_every_worker(conn)
