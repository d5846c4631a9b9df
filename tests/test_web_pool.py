"""The web app's connection handling (pool.py), in process against the real server."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carepg.errors import Conflict, DatabaseTimeout, ServerUnavailable
from carepg.web.pool import Database, Settings, WouldWait, without_waiting


def test_connections_get_the_statement_timeout_and_prepare_at_once(db_url):
    database = Database(lambda: Settings(url=db_url, statement_timeout_ms=1234))
    try:
        timeout, threshold = database.run(
            lambda conn: (conn.execute("SHOW statement_timeout").fetchone()[0], conn.prepare_threshold)
        )
    finally:
        database.close()
    assert timeout == "1234ms"
    assert threshold == 0


def test_a_query_past_the_timeout_is_a_503_with_its_sqlstate(db_url):
    database = Database(lambda: Settings(url=db_url, statement_timeout_ms=50))
    try:
        with pytest.raises(DatabaseTimeout) as err:
            database.run(lambda conn: conn.execute("SELECT pg_sleep(1)"))
    finally:
        database.close()
    assert err.value.sqlstate == "57014"
    assert err.value.http_status == 503 and err.value.retry_after


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
def test_a_deadlock_or_serialization_failure_runs_the_request_once_more(db_url, sqlstate):
    """PostgreSQL rolled the request's transaction back and says to run it again: the pool does, once."""
    database = Database(lambda: Settings(url=db_url))
    attempts: list[int] = []

    def request(conn, fail_times: int):
        attempts.append(conn.info.backend_pid)
        if len(attempts) <= fail_times:
            conn.execute(f"DO $$ BEGIN RAISE EXCEPTION 'rolled back' USING ERRCODE = '{sqlstate}'; END $$")
        return conn.execute("SELECT 42").fetchone()[0]

    try:
        assert database.run(lambda conn: request(conn, 1)) == 42
        assert len(attempts) == 2
        attempts.clear()
        with pytest.raises(Conflict) as err:  # twice in a row: the client's to retry
            database.run(lambda conn: request(conn, 2))
        assert len(attempts) == 2 and err.value.sqlstate == sqlstate and err.value.http_status == 409
    finally:
        database.close()


def test_without_waiting_only_an_idle_connection_is_borrowed(db_url):
    """What the event loop's thread gets (front.py): an idle connection, else WouldWait at once; never a new
    connection made in place, never a wait for one to come free. Outside the block the same request waits."""
    database = Database(lambda: Settings(url=db_url, pool_size=1, pool_timeout=30))
    try:
        with without_waiting(), pytest.raises(WouldWait):  # none made yet: making one could take connect_timeout
            database.run(lambda conn: 1)
        assert database.pool()._open == 0
        assert database.run(lambda conn: conn.info.backend_pid)  # now one is idle
        with without_waiting():
            assert database.run(lambda conn: conn.execute("SELECT 7").fetchone()[0]) == 7
            held = database.pool().getconn()  # the only one, in use
            try:
                with pytest.raises(WouldWait):
                    database.run(lambda conn: 1)
            finally:
                database.pool().putconn(held)
        assert database.pool()._open == 1
    finally:
        database.close()


def test_a_pool_is_made_per_process(db_url, monkeypatch):
    database = Database(lambda: Settings(url=db_url))
    try:
        parent = database.pool()
        assert database.pool() is parent
        monkeypatch.setattr("carepg.web.pool.os.getpid", lambda: -1)  # what a forked worker would see
        child = database.pool()
        assert child is not parent
        assert database.run(lambda conn: conn.execute("SELECT 1").fetchone()[0]) == 1
    finally:
        parent.close()
        database.close()


@pytest.mark.parametrize(("name", "value"), [
    *[("CAREPG_WEB_POOL_SIZE", v) for v in ("0", "-2", "many")],
    # The relay's probe interval: within what shifts.await_concerning_changes accepts (1 ms to 1 s).
    *[("CAREPG_WEB_EVENTS_POLL", v) for v in ("0.0005", "2", "0")],
])  # fmt: skip
def test_bad_settings_are_a_deployment_error(monkeypatch, name, value):
    monkeypatch.setenv("CAREPG_WEB_DATABASE_URL", "postgresql:///nowhere")
    monkeypatch.setenv(name, value)
    with pytest.raises(ServerUnavailable, match=name):
        Settings.from_env()



# variable: (the field it sets, its type, the least and the most it may be; 0 as the least: any positive value)
SETTINGS = {"CAREPG_WEB_POOL_SIZE": ("pool_size", int, 0, None),
            "CAREPG_WEB_POOL_TIMEOUT": ("pool_timeout", float, 0, None),
            "CAREPG_WEB_STATEMENT_TIMEOUT": ("statement_timeout_ms", int, 0, None),
            "CAREPG_WEB_EVENTS_POLL": ("events_poll", float, 0.001, 1),
            "CAREPG_WEB_EVENTS_HEARTBEAT": ("events_heartbeat", float, 0, None)}  # fmt: skip


@given(name=st.sampled_from(sorted(SETTINGS)),
       raw=st.one_of(st.text(min_size=1, max_size=12).filter(lambda t: "\x00" not in t),
                     st.floats(allow_nan=True, allow_infinity=True).map(repr),
                     st.sampled_from(["nan", "inf", "-inf", "1e308", "1e-9", "0.0009", "1.0", "0x10", "1_000"])))
def test_any_setting_is_taken_only_when_it_is_a_finite_number_in_range(name, raw):
    """Whatever a deployment writes: the value it means, or ServerUnavailable naming the variable (never NaN, an
    infinity or an exception of another kind)."""
    field, kind, low, high = SETTINGS[name]
    try:
        value = kind(raw)
    except ValueError:
        value = None
    ok = value is not None and math.isfinite(value) and value > 0 and value >= low and (high is None or value <= high)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CAREPG_WEB_DATABASE_URL", "postgresql:///nowhere")
        env.setenv(name, raw)
        if ok:
            assert getattr(Settings.from_env(), field) == value
        else:
            with pytest.raises(ServerUnavailable, match=name):
                Settings.from_env()
