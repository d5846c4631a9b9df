"""Eligibility is never stale: after every mutation, with no refresh, the function equals the reference.

Hypothesis draws small marketplaces (duplicates, facilities without requirements, inactive everything,
overlapping claims) and sequences of mutations; after each one, every worker's answer — read page by page
and through a window — must be exactly what tests/reference.py computes from the live tables.

`make test` runs a bounded number of examples; set CAREPG_HYPOTHESIS_EXAMPLES (e.g. 2000) for a long run.
"""

from __future__ import annotations

import datetime as dt
import os

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
    "documents": st.lists(st.booleans(), min_size=1, max_size=4),
    "facilities": st.lists(st.booleans(), min_size=1, max_size=4),
    "workers": st.lists(st.tuples(st.booleans(), st.sampled_from(PROFESSIONS)), min_size=1, max_size=4),
    "requirements": st.lists(st.tuples(small, small), max_size=8),
    "holdings": st.lists(st.tuples(small, small), max_size=10),
    "shifts": st.lists(shift_spec, min_size=1, max_size=14),
})  # fmt: skip

mutation = st.one_of(
    st.tuples(st.just("hold"), small, small),
    st.tuples(st.just("unhold"), small),
    st.tuples(st.just("rehold"), small, small),  # UPDATE a holding's document
    st.tuples(st.just("require"), small, small),
    st.tuples(st.just("unrequire"), small),
    st.tuples(st.just("toggle_worker"), small),
    st.tuples(st.just("toggle_facility"), small),
    st.tuples(st.just("claim"), small, small),
    st.tuples(st.just("unclaim"), small),
    st.tuples(st.just("delete_shift"), small),
    st.tuples(st.just("restore_shift"), small),
    st.tuples(st.just("new_shift"), shift_spec),
    st.tuples(st.just("new_worker"), st.booleans(), st.sampled_from(PROFESSIONS)),
    st.tuples(st.just("new_facility"), st.booleans()),
    st.tuples(st.just("profession"), small, st.sampled_from(PROFESSIONS)),
    st.tuples(st.just("refresh"), st.booleans()),
)


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
    elif kind == "delete_shift":
        run('UPDATE "Shift" SET is_deleted = true WHERE id = %s', (pick(shift_ids, args[0]),))
    elif kind == "restore_shift":
        run('UPDATE "Shift" SET is_deleted = false WHERE id = %s', (pick(shift_ids, args[0]),))
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


def paged(conn, worker_id: int, page_size: int, start_from=None, start_to=None) -> list[int]:
    seen, after = [], (None, None)
    while True:
        rows = conn.execute(
            "SELECT shift_id, start FROM shifts.available_shifts(%s, %s, %s, %s, %s, %s)",
            (worker_id, start_from, start_to, after[1], after[0], page_size),
        ).fetchall()
        seen += [r[0] for r in rows]
        if len(rows) < page_size:
            return seen
        after = rows[-1]


def check_every_worker(conn) -> None:
    world = World.load(conn)
    window = (T0 + dt.timedelta(hours=3), T0 + dt.timedelta(hours=8))
    for worker_id in world.workers:
        expected = world.available(worker_id)
        assert paged(conn, worker_id, 3) == expected, f"worker {worker_id}"
        assert paged(conn, worker_id, 2, *window) == world.available(worker_id, *window), f"worker {worker_id}"
        total = conn.execute("SELECT shifts.count_available_shifts(%s)", (worker_id,)).fetchone()[0]
        assert total == len(expected)


@pytest.fixture(params=["per_facility", "walk"])
def conn(request, db_url):
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("SELECT set_config('carepg.available_shifts_plan', %s, false)", (request.param,))
        yield c


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=world_spec, mutations=st.lists(mutation, min_size=1, max_size=12))
def test_every_mutation_is_visible_in_the_very_next_call(conn, spec, mutations):
    build(conn, spec)
    check_every_worker(conn)
    for op in mutations:
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
        stale = lambda: conn.execute("SELECT stale_by IS NOT NULL FROM shifts.eligibility_state").fetchone()[0]  # noqa: E731
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
