"""The document rule, "the worker holds every document the facility requires", is defined once
(shifts_private.facilities_with_documents, sql/shifts/docs_ok.sql) and stated in a few other shapes where speed
needs it: the materialized view (each facility's rarest document first), claim_shift's list of missing documents,
the push feed's arrays (what a facility requires now and before, against what the worker holds), and the tests'
own Python (tests/reference.py). On random data, duplicates included, every shape must agree with the one
definition, for every pair.
"""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference import World

pytestmark = pytest.mark.fast

T0 = dt.datetime(2023, 2, 1, 5, 0)
pairs = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 4)), max_size=14)  # (facility or worker, document)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requirements=pairs, holdings=pairs, facilities=st.integers(1, 4), workers=st.integers(1, 4))
def test_every_shape_of_the_rule_agrees_with_the_one_definition(postgresql, requirements, holdings, facilities,
                                                               workers):
    conn = postgresql
    conn.execute('TRUNCATE "Shift", "DocumentWorker", "FacilityRequirement", "Worker", "Facility", "Document" '
                 "RESTART IDENTITY")  # fmt: skip
    conn.execute("""INSERT INTO "Document" (name, is_active) SELECT 'd', true FROM generate_series(1, 5)""")
    conn.execute("""INSERT INTO "Facility" (name, is_active) SELECT 'f', true FROM generate_series(1, %s)""",
                 (facilities,))  # fmt: skip
    conn.execute("""INSERT INTO "Worker" (name, is_active, profession) SELECT 'w', true, 'CNA'
                    FROM generate_series(1, %s)""", (workers,))  # fmt: skip
    for f, d in requirements:
        if f < facilities:
            conn.execute('INSERT INTO "FacilityRequirement" (facility_id, document_id) VALUES (%s, %s)', (f + 1, d + 1))
    for w, d in holdings:
        if w < workers:
            conn.execute('INSERT INTO "DocumentWorker" (worker_id, document_id) VALUES (%s, %s)', (w + 1, d + 1))
    conn.execute("SELECT shifts.refresh_eligibility(false)")
    conn.commit()
    world = World.load(conn)
    view = set(conn.execute("SELECT worker_id, facility_id FROM shifts_private.eligible_pair").fetchall())
    through_view = {w: set(conn.execute("SELECT shifts.eligible_facility_ids(%s)", (w,)).fetchone()[0])
                    for w in range(1, workers + 1)}  # fmt: skip
    # Every facility deactivated and activated again: readers now recheck every pair live until a refresh.
    conn.execute('UPDATE "Facility" SET is_active = false')
    conn.execute('UPDATE "Facility" SET is_active = true')
    conn.commit()
    for w in range(1, workers + 1):
        live = set(conn.execute("SELECT shifts.eligible_facility_ids(%s)", (w,)).fetchone()[0])
        assert live == through_view[w], f"worker {w}: the view and the live recheck disagree"
        for f in range(1, facilities + 1):
            rule = conn.execute("SELECT cardinality(shifts_private.facilities_with_documents(%s, ARRAY[%s])) = 1",
                                (w, f)).fetchone()[0]  # fmt: skip
            where = f"worker {w}, facility {f}"
            assert conn.execute("SELECT shifts.docs_ok(%s, %s)", (w, f)).fetchone()[0] == rule, where
            assert ((w, f) in view) == rule, f"the view, {where}"
            assert (f in live) == rule, f"eligible_facility_ids, {where}"
            assert (f in world.eligible_facilities(w)) == rule, f"tests/reference.py, {where}"
            arrays = conn.execute(
                """SELECT (SELECT coalesce(array_agg(DISTINCT r.document_id), '{}') FROM "FacilityRequirement" r
                           WHERE r.facility_id = %(f)s)
                          <@ (SELECT coalesce(array_agg(d.document_id), '{}') FROM "DocumentWorker" d
                              WHERE d.worker_id = %(w)s)""", {"w": w, "f": f}).fetchone()[0]  # fmt: skip
            assert arrays == rule, f"the feed's arrays, {where}"
            shift = conn.execute('INSERT INTO "Shift" (start, "end", profession, facility_id) VALUES (%s, %s, %s, %s) '
                                 "RETURNING id", (T0, T0 + dt.timedelta(hours=1), "CNA", f)).fetchone()[0]  # fmt: skip
            try:
                conn.execute("SELECT * FROM shifts.claim_shift(%s, %s)", (w, shift))
                refused = None
            except psycopg.Error as err:
                refused = err.diag.message_detail
            conn.rollback()
            assert (refused is None) == rule and refused in (None, "documents"), f"claim_shift, {where}: {refused}"
