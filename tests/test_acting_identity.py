"""Who may act for a worker, in the database: shifts_private.check_acting_for() and the seven functions that call it.

With an identity set for the transaction (carepg.worker_id, carepg.role), every function of one worker's data
refuses another worker's with CP403 / not_your_worker and changes nothing; staff act for anyone; a caller that
sets no identity keeps the plain contract. The Python calls (shifts.py) pass the identity in the same statement
as the call, which the last tests prove for each named query.
"""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import builders as b
from carepg import shifts
from carepg.errors import Forbidden

# One call of each function that acts for or reads about one worker, as SQL with %(w)s for the worker and
# %(s)s for a shift.
CALLS = {
    "available_shifts": "SELECT count(*) FROM shifts.available_shifts(%(w)s)",
    "available_shifts_json": "SELECT shifts.available_shifts_json(%(w)s)",
    "count_available_shifts": "SELECT shifts.count_available_shifts(%(w)s)",
    "available_shifts_by_day": "SELECT count(*) FROM shifts.available_shifts_by_day(%(w)s, %(from)s, %(to)s)",
    "claimed_shifts": "SELECT count(*) FROM shifts.claimed_shifts(%(w)s)",
    "claim_shift": "SELECT * FROM shifts.claim_shift(%(w)s, %(s)s)",
    "release_shift": "SELECT shifts.release_shift(%(w)s, %(s)s)",
}


@pytest.fixture
def conn(postgresql):
    postgresql.autocommit = True
    return postgresql


@pytest.fixture
def market(conn):
    doc = b.document(conn)
    fac = b.facility(conn, requires=[doc])
    me, other = b.worker(conn, holds=[doc]), b.worker(conn, holds=[doc])
    open_shift = b.shift(conn, fac)
    mine = b.shift(conn, fac, start=b.T0 + 10 * dt.timedelta(hours=1), claimed_by=me)
    b.refresh(conn)
    return {"me": me, "other": other, "open": open_shift, "mine": mine}


def state(conn) -> tuple:
    """Everything a claim or a release could change: who holds what, and the claim lock rows."""
    held = conn.execute('SELECT id, worker_id FROM "Shift" WHERE worker_id IS NOT NULL ORDER BY id').fetchall()
    locks = conn.execute("SELECT worker_id, writes FROM shifts_private.worker_lock ORDER BY 1").fetchall()
    return held, locks


def run(conn, name: str, worker_id: int, market: dict, acting: tuple[str, str] | None):
    """The call in its own transaction, with the identity set first (None: nothing set); its error, if any."""
    params = {"w": worker_id, "s": market["mine"] if name == "release_shift" else market["open"],
              "from": b.T0, "to": b.T0 + dt.timedelta(days=7)}  # fmt: skip
    try:
        with conn.transaction():
            if acting is not None:
                conn.execute("SELECT set_config('carepg.worker_id', %s, true), set_config('carepg.role', %s, true)",
                             acting)  # fmt: skip
            conn.execute(CALLS[name], params).fetchall()
            raise _RolledBack()  # leave the data as it was for the next call
    except _RolledBack:
        return None
    except psycopg.Error as exc:
        return exc


class _RolledBack(Exception):
    pass


@pytest.mark.parametrize("name", sorted(CALLS))
def test_another_workers_identity_is_refused_and_changes_nothing(conn, market, name):
    before = state(conn)
    for acting in [(str(market["other"]), "worker"), (str(market["other"]), ""), ("", "worker"), ("", "admin"),
                   (str(market["me"]), "admin"), (f" {market['me']}", "worker"), (f"0{market['me']}", "worker")]:
        error = run(conn, name, market["me"], market, acting)
        assert error is not None and error.sqlstate == "CP403", (acting, error)
        assert error.diag.message_detail == "not_your_worker"
        assert state(conn) == before
    # Outside a rolled-back transaction too: a refused claim leaves no lock row behind.
    with conn.transaction(), pytest.raises(psycopg.Error):
        conn.execute("SELECT set_config('carepg.worker_id', %s, true)", (str(market["other"]),))
        conn.execute(CALLS[name], {"w": market["me"], "s": market["open"], "from": b.T0,
                                   "to": b.T0 + dt.timedelta(days=7)})  # fmt: skip
    assert state(conn) == before


@pytest.mark.parametrize("name", sorted(CALLS))
def test_the_worker_itself_staff_and_a_trusted_caller_are_let_through(conn, market, name):
    for acting in [(str(market["me"]), "worker"), (str(market["me"]), ""), ("", "staff"),
                   (str(market["other"]), "staff"), ("", ""), None]:  # fmt: skip
        assert run(conn, name, market["me"], market, acting) is None, acting


def test_the_identity_ends_with_its_transaction(conn, market):
    conn.execute("SELECT set_config('carepg.worker_id', %s, true)", (str(market["other"]),))
    assert conn.execute("SELECT current_setting('carepg.worker_id', true)").fetchone()[0] == ""
    assert conn.execute(CALLS["available_shifts"], {"w": market["me"]}).fetchone()[0] == 1


def test_the_check_is_the_owners_alone(conn):
    grants = conn.execute(
        """SELECT grantee::regrole::text FROM pg_proc AS p, aclexplode(p.proacl)
           WHERE p.oid = 'shifts_private.check_acting_for(integer)'::regprocedure AND privilege_type = 'EXECUTE'"""
    ).fetchall()
    assert {g for (g,) in grants} == {"carepg_owner"}
    with conn.transaction(), pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SET LOCAL ROLE carepg_api")
        conn.execute("SELECT shifts_private.check_acting_for(1)")


identities = st.tuples(
    st.one_of(st.just(""), st.integers(-5, 2**31).map(str), st.text(max_size=12)),
    st.one_of(st.sampled_from(["", "worker", "staff", "Staff", "admin", " staff"]), st.text(max_size=8)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(acting=identities, target=st.integers(1, 2**31 - 1))
def test_the_check_allows_exactly_the_rule(conn, acting, target):
    """Any identity, any worker: allowed iff staff, no identity, or the worker itself; else CP403, nothing else."""
    worker_text, role = acting
    if "\x00" in worker_text + role:
        return  # a setting cannot hold NUL (the client refuses it before the server sees it)
    allowed = role == "staff" or (role == "" and worker_text == "") or (role in ("", "worker")
                                                                         and worker_text == str(target))  # fmt: skip
    try:
        with conn.transaction():
            conn.execute("SELECT set_config('carepg.worker_id', %s, true), set_config('carepg.role', %s, true)",
                         acting)  # fmt: skip
            conn.execute("SELECT shifts_private.check_acting_for(%s)", (target,))
    except psycopg.Error as exc:
        assert not allowed and exc.sqlstate == "CP403" and exc.diag.message_detail == "not_your_worker", exc
    else:
        assert allowed


# --- the Python calls pass the identity in the same statement -------------------------------------------------


def python_calls(conn, worker_id: int, market: dict, acting) -> dict:
    window = {"start_from": b.T0, "start_to": b.T0 + dt.timedelta(days=7)}
    return {
        "page": lambda: shifts.page(conn, worker_id, acting=acting),
        "page_json": lambda: shifts.page_json(conn, worker_id, acting=acting),
        "count": lambda: shifts.count(conn, worker_id, acting=acting),
        "by_day": lambda: shifts.by_day(conn, worker_id, acting=acting, **window),
        "claims_page": lambda: shifts.claims_page(conn, worker_id, acting=acting),
        "claim": lambda: shifts.claim(conn, worker_id, market["open"], acting),
        "release": lambda: shifts.release(conn, worker_id, market["mine"], acting),
    }


def test_every_python_call_sends_the_identity_with_the_call(conn, market):
    before = state(conn)
    for name, call in python_calls(conn, market["me"], market, (str(market["other"]), "worker")).items():
        with pytest.raises(Forbidden) as refused:
            call()
        assert refused.value.reason == "not_your_worker", name
        assert state(conn) == before, name
        # ... and only for that statement: the pooled connection's next call acts as no one.
        assert conn.execute("SELECT current_setting('carepg.worker_id', true)").fetchone()[0] == ""
    for name, call in python_calls(conn, market["me"], market, (str(market["me"]), "worker")).items():
        call()  # the worker's own: answered (claim, then release, in this order)
    assert state(conn)[0] == [(market["open"], market["me"])]
