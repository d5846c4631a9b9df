"""Migration 0010: the API role can execute the two read functions and touch nothing else."""

from __future__ import annotations

import psycopg
import pytest

from carepg import migrations

API_FUNCTIONS = {
    "shifts.available_shifts(integer,timestamp without time zone,timestamp without time zone,"
    "timestamp without time zone,integer,integer)",
    "shifts.count_available_shifts(integer,timestamp without time zone,timestamp without time zone)",
}


def as_api(conn: psycopg.Connection):
    conn.execute("SET ROLE carepg_api")


def test_api_role_runs_the_functions(postgresql):
    as_api(postgresql)
    with pytest.raises(psycopg.Error) as unknown:  # the function runs (and reads the tables for us)
        postgresql.execute("SELECT * FROM shifts.available_shifts(1)")
    assert unknown.value.sqlstate == "CP404"
    postgresql.rollback()
    as_api(postgresql)
    with pytest.raises(psycopg.Error) as unknown:
        postgresql.execute("SELECT shifts.count_available_shifts(1)")
    assert unknown.value.sqlstate == "CP404"


@pytest.mark.parametrize(
    "statement",
    [
        'SELECT * FROM public."Worker"',
        'SELECT * FROM public."Shift"',
        "SELECT * FROM shifts.eligible_pair",
        'INSERT INTO public."Worker" (name, profession) VALUES (\'x\', \'CNA\')',
        "SELECT shifts.refresh_eligibility(false)",
        "CREATE TABLE shifts.mine (x int)",
    ],
)
def test_api_role_has_no_other_access(postgresql, statement):
    as_api(postgresql)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        postgresql.execute(statement)


def test_only_the_api_functions_are_security_definer_and_granted(postgresql):
    rows = postgresql.execute(
        """
        SELECT p.oid::regprocedure::text, p.prosecdef,
               has_function_privilege('carepg_api', p.oid, 'EXECUTE'),
               has_function_privilege('public', p.oid, 'EXECUTE')
        FROM pg_proc AS p
        WHERE p.pronamespace = 'shifts'::regnamespace
        """
    ).fetchall()
    by_name = {name: (definer, api, public) for name, definer, api, public in rows}
    for name in API_FUNCTIONS:
        assert by_name[name] == (True, True, False), name
    # Any other SECURITY DEFINER function in shifts would hand the API its owner's rights: none may be callable.
    others = {n: v for n, v in by_name.items() if n not in API_FUNCTIONS and v[0]}
    assert not {n for n, (_, api, _) in others.items() if api}


def test_every_api_object_is_commented(postgresql):
    role_comment = postgresql.execute("SELECT shobj_description('carepg_api'::regrole, 'pg_authid')").fetchone()[0]
    for name in API_FUNCTIONS:
        assert name.split("(")[0] in role_comment  # the role says what it may call
        comment = postgresql.execute("SELECT obj_description(%s::regprocedure, 'pg_proc')", (name,)).fetchone()[0]
        assert comment


def test_downgrade_and_upgrade_again(empty_db_url):
    migrations.upgrade(empty_db_url)
    migrations.downgrade(empty_db_url, "0004")
    with psycopg.connect(empty_db_url) as conn:
        definer = conn.execute(
            "SELECT prosecdef FROM pg_proc WHERE oid = 'shifts.available_shifts'::regproc"
        ).fetchone()[0]
        assert definer is False
        assert conn.execute(
            "SELECT has_function_privilege('public', 'shifts.refresh_eligibility(boolean)', 'EXECUTE')"
        ).fetchone()[0]
    migrations.upgrade(empty_db_url)
    assert migrations.current(empty_db_url) == migrations.head()
