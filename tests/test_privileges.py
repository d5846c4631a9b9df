"""Privileges that hold: what each carepg role may do is exactly what the README documents, nothing more, and
installing carepg takes nothing away from the application's own roles.

Every set below is computed from the catalog (PUBLIC's grants and role memberships included), not read back
from the files that grant it.
"""

from __future__ import annotations

import random

import psycopg
import pytest

import test_freshness as freshness
from carepg import migrations

pytestmark = pytest.mark.fast

CAREPG_SCHEMAS = ["shifts", "shifts_private", "mrf", "mrf_private"]
AVAILABLE = ("shifts.available_shifts(integer,timestamp without time zone,timestamp without time zone,"
             "timestamp without time zone,integer,integer)")  # fmt: skip
AVAILABLE_JSON = ("shifts.available_shifts_json(integer,timestamp without time zone,timestamp without time zone,"
                  "timestamp without time zone,integer,integer)")  # fmt: skip
COUNT = "shifts.count_available_shifts(integer,timestamp without time zone,timestamp without time zone)"
BY_DAY = "shifts.available_shifts_by_day(integer,timestamp without time zone,timestamp without time zone,integer)"
CLAIMED = ("shifts.claimed_shifts(integer,timestamp without time zone,timestamp without time zone,"
           "timestamp without time zone,integer,integer)")  # fmt: skip
CLAIM = "shifts.claim_shift(integer,integer)"
RELEASE = "shifts.release_shift(integer,integer)"
NETWORK_FILES = "mrf.network_files(text,text,text)"
CHANGES = "shifts.available_shift_changes(integer,text,timestamp without time zone,timestamp without time zone)"
CHANGES_FOR = ("shifts.available_shift_changes_for(integer[],timestamp without time zone[],"
               "timestamp without time zone[],text)")  # fmt: skip
CHANGES_SINCE = "shifts.shift_changes_since(text)"
UNRELATED = "shifts.cursor_past_unrelated_changes(text,integer[])"
AWAIT = "shifts.await_concerning_changes(text,integer[],interval,interval)"
FEED = {CHANGES, CHANGES_FOR, CHANGES_SINCE, UNRELATED, AWAIT}

# The documented grants (README, "Roles and privileges").
API_FUNCTIONS = {AVAILABLE, AVAILABLE_JSON, COUNT, BY_DAY, CLAIMED, CLAIM, RELEASE, *FEED}
READER_FUNCTIONS = {AVAILABLE, AVAILABLE_JSON, COUNT, BY_DAY, CLAIMED, *FEED, NETWORK_FILES, "mrf.plan_types_of_name(text)",
                    "mrf.lookup_plan_type(text)", "mrf.state_of_name(text)",
                    "mrf.issuer_of_description(text,text)"}  # fmt: skip
READER_RELATIONS = {"mrf.us_state", "mrf.bcbs_plan_code", "mrf.file_class"}
TRIGGER_FUNCTIONS = {
    *(f"shifts_private.on_{t}_change()" for t in ("document_worker", "facility_requirement", "worker", "facility",
                                                   "shift")),
    "shifts_private.on_truncate()",
}
# mrf_private.add_entry_partition: a run's partition of the plan entries is carepg_owner's, whoever records the run.
DEFINER_FUNCTIONS = {AVAILABLE, AVAILABLE_JSON, COUNT, BY_DAY, CLAIMED, CLAIM, RELEASE, *FEED, NETWORK_FILES,
                     *TRIGGER_FUNCTIONS, "mrf_private.add_entry_partition(bigint)"}
CHALLENGE_TABLES = ["Worker", "Facility", "Document", "FacilityRequirement", "DocumentWorker", "Shift"]


def executable_by(conn, role: str) -> set[str]:
    """Functions of carepg's schemas `role` may call: EXECUTE (its own, inherited or PUBLIC's) and USAGE."""
    rows = conn.execute(
        """
        SELECT p.oid::regprocedure::text
        FROM pg_proc AS p
        WHERE p.pronamespace::regnamespace::text = ANY (%s)
          AND has_function_privilege(%s, p.oid, 'EXECUTE')
          AND has_schema_privilege(%s, p.pronamespace, 'USAGE')
        """,
        (CAREPG_SCHEMAS, role, role),
    ).fetchall()
    return {r[0].replace(", ", ",") for r in rows}


def touchable_by(conn, role: str) -> set[str]:
    """Tables, views and materialized views of every non-system schema `role` may read or write in any way."""
    rows = conn.execute(
        """
        SELECT c.oid::regclass::text
        FROM pg_class AS c
        WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f')
          AND c.relnamespace::regnamespace::text NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
          AND has_schema_privilege(%s, c.relnamespace, 'USAGE')
          AND has_table_privilege(%s, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
        """,
        (role, role),
    ).fetchall()
    return {r[0] for r in rows}


def test_the_api_role_may_execute_exactly_the_read_api_and_touch_no_table(postgresql):
    assert executable_by(postgresql, "carepg_api") == API_FUNCTIONS
    assert touchable_by(postgresql, "carepg_api") == set()
    # Nor through a role it could switch to.
    memberships = postgresql.execute(
        "SELECT count(*) FROM pg_auth_members WHERE member = 'carepg_api'::regrole").fetchone()[0]  # fmt: skip
    assert memberships == 0


def test_the_reader_role_may_execute_the_read_functions_of_both_schemas(postgresql):
    assert executable_by(postgresql, "carepg_reader") == READER_FUNCTIONS
    assert touchable_by(postgresql, "carepg_reader") == READER_RELATIONS


def test_public_may_execute_no_carepg_function_and_use_no_carepg_schema(postgresql):
    rows = postgresql.execute(
        """
        SELECT p.oid::regprocedure::text FROM pg_proc AS p
        WHERE p.pronamespace::regnamespace::text = ANY (%s) AND has_function_privilege('public', p.oid, 'EXECUTE')
        """,
        (CAREPG_SCHEMAS,),
    ).fetchall()
    assert rows == []
    for schema in CAREPG_SCHEMAS:
        assert not postgresql.execute("SELECT has_schema_privilege('public', %s, 'USAGE')", (schema,)).fetchone()[0]


def test_a_function_added_later_starts_closed(postgresql):
    postgresql.execute("SET ROLE carepg_owner")
    postgresql.execute("CREATE FUNCTION shifts.added_later() RETURNS int LANGUAGE sql RETURN 1")
    postgresql.execute("RESET ROLE")
    assert "shifts.added_later()" not in executable_by(postgresql, "carepg_api")
    assert not postgresql.execute(
        "SELECT has_function_privilege('public', 'shifts.added_later()', 'EXECUTE')").fetchone()[0]  # fmt: skip


def test_definer_functions_run_as_a_role_with_no_power_over_the_host(postgresql):
    rows = postgresql.execute(
        """
        SELECT p.oid::regprocedure::text, p.proowner::regrole::text, p.proconfig
        FROM pg_proc AS p
        WHERE p.prosecdef AND p.pronamespace::regnamespace::text = ANY (%s)
        """,
        (CAREPG_SCHEMAS,),
    ).fetchall()
    assert {r[0].replace(", ", ",") for r in rows} == DEFINER_FUNCTIONS
    for name, owner, config in rows:
        assert owner == "carepg_owner", name
        assert config == ["search_path=pg_catalog, pg_temp"], name  # pg_temp last: never searched first
    owner = postgresql.execute(
        "SELECT rolsuper, rolcanlogin, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles"
        " WHERE rolname = 'carepg_owner'").fetchone()  # fmt: skip
    assert owner == (False, False, False, False, False)
    # Of the application's tables it may only read the five that decide availability, and write one column:
    # "Shift".worker_id, which is what a claim is.
    granted = postgresql.execute(
        """
        SELECT table_name, privilege_type FROM information_schema.role_table_grants
        WHERE grantee = 'carepg_owner' AND table_schema = 'public' ORDER BY 1, 2
        """
    ).fetchall()
    assert granted == [(t, "SELECT") for t in sorted(set(CHALLENGE_TABLES) - {"Document"})]
    columns = postgresql.execute(
        """
        SELECT table_name, column_name, privilege_type FROM information_schema.column_privileges
        WHERE grantee = 'carepg_owner' AND table_schema = 'public' AND privilege_type <> 'SELECT'
        """
    ).fetchall()
    assert columns == [("Shift", "worker_id", "UPDATE")]


@pytest.mark.parametrize(
    "statement",
    [
        'SELECT * FROM public."Worker"',
        "SELECT * FROM shifts_private.eligible_pair",
        "SELECT * FROM mrf.file_class",
        "SELECT shifts.refresh_eligibility(false)",
        "SELECT shifts.unschedule_refresh()",
        "SELECT shifts.eligible_facility_ids(1)",
        "SELECT shifts.docs_ok(1, 1)",
        "SELECT shifts_private.begin_eligibility_write()",
        "SELECT mrf.start_ingest('x', 1)",
        "CREATE TABLE shifts.mine (x int)",
    ],
)
def test_the_api_role_is_refused_everything_else(postgresql, statement):
    postgresql.execute("SET ROLE carepg_api")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        postgresql.execute(statement)


def test_the_api_and_reader_roles_get_answers_without_table_access(postgresql):
    for role in ("carepg_api", "carepg_reader"):
        postgresql.execute(f"SET ROLE {role}")
        with pytest.raises(psycopg.Error) as unknown:  # the function runs (and reads the tables for us)
            postgresql.execute("SELECT * FROM shifts.available_shifts(1)")
        assert unknown.value.sqlstate == "CP404"
        postgresql.rollback()
    postgresql.execute("SET ROLE carepg_reader")
    with pytest.raises(psycopg.Error) as nothing:
        postgresql.execute("SELECT * FROM mrf.network_files('NY', 'PPO')")
    assert nothing.value.sqlstate == "CP404"  # no table of contents yet: the function ran
    postgresql.rollback()
    postgresql.execute("SET ROLE carepg_reader")
    assert postgresql.execute("SELECT count(*) FROM mrf.file_class").fetchone()[0] == 0


def test_every_api_object_is_commented(postgresql):
    rows = postgresql.execute(
        """
        SELECT p.oid::regprocedure::text, obj_description(p.oid, 'pg_proc') FROM pg_proc AS p
        WHERE p.pronamespace::regnamespace::text = ANY (%s)
        UNION ALL
        SELECT c.oid::regclass::text, obj_description(c.oid, 'pg_class') FROM pg_class AS c
        WHERE c.relnamespace::regnamespace::text = ANY (%s) AND c.relkind IN ('r', 'v', 'm')
        UNION ALL
        SELECT n.nspname, obj_description(n.oid, 'pg_namespace') FROM pg_namespace AS n WHERE n.nspname = ANY (%s)
        UNION ALL
        SELECT r.rolname, shobj_description(r.oid, 'pg_authid') FROM pg_roles AS r WHERE r.rolname LIKE 'carepg\\_%%'
        """,
        (CAREPG_SCHEMAS,) * 3,
    ).fetchall()
    assert [name for name, comment in rows if not comment] == []


def _ensure_app_role(conn) -> str:
    """A role with what an application that does not own its tables usually has: DML on them, nothing else."""
    conn.execute("""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'test_app_writer') THEN
                CREATE ROLE test_app_writer LOGIN;
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END $$""")  # fmt: skip
    conn.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO test_app_writer")
    conn.execute("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO test_app_writer")
    return "test_app_writer"


@pytest.mark.slow  # a random walk of writes as the application's role: seconds
def test_an_application_role_with_dml_rights_only_keeps_writing_and_answers_stay_exact(db_url):
    spec = {
        "documents": [True, False, True],
        "facilities": [True, True, False],
        "workers": [(True, "CNA"), (True, "CNA"), (False, "RN")],
        "requirements": [(0, 0), (1, 2)],
        "holdings": [(0, 0), (1, 1), (1, 2)],
        "shifts": [(h, 2, "CNA", False, h, None) for h in range(0, 12, 2)] + [(1, 3, "RN", False, 1, 2)],
    }
    with psycopg.connect(db_url, autocommit=True) as owner:
        role = _ensure_app_role(owner)
        freshness.build(owner, spec)
        with psycopg.connect(db_url, user=role, autocommit=True) as app:
            assert app.execute("SELECT current_user").fetchone()[0] == role
            rng = random.Random(7)
            kinds = set()
            for _ in range(150):
                op = freshness.random_mutation(rng)
                if op[0] in ("refresh", "claim_fn", "release_fn"):  # housekeeping; carepg's API, not DML
                    continue
                freshness.apply(app, op)  # INSERT / UPDATE / DELETE on the challenge tables, as the application
                kinds.add(op[0])
                freshness.check_every_worker(owner)
            assert kinds >= {"hold", "unhold", "require", "unrequire", "toggle_worker", "toggle_facility", "claim",
                             "new_shift", "new_worker", "new_facility"}  # fmt: skip
            app.execute('UPDATE "Document" SET is_active = NOT is_active')
            app.execute('DELETE FROM "DocumentWorker"')
            app.execute('DELETE FROM "FacilityRequirement"')
            app.execute('DELETE FROM "Shift"')
            freshness.check_every_worker(owner)


def test_installing_takes_no_right_from_an_existing_role(empty_db_url):
    """Privileges of every role that is not carepg's, on the application's tables, stay as they were."""
    from test_migrations import make_challenge_database

    make_challenge_database(empty_db_url)
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        _ensure_app_role(conn)

    def rights() -> set[tuple]:
        with psycopg.connect(empty_db_url) as conn:
            return set(conn.execute(
                """
                SELECT c.oid::regclass::text, r.rolname, p.privilege
                FROM pg_class AS c CROSS JOIN pg_roles AS r
                CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER']) AS p (privilege)
                WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND c.relname <> 'alembic_version'
                  AND r.rolname NOT LIKE 'carepg\\_%%' AND r.rolname NOT LIKE 'pg\\_%%'
                  AND has_table_privilege(r.oid, c.oid, p.privilege)
                """).fetchall())  # fmt: skip

    before = rights()
    assert ("\"Shift\"", "test_app_writer", "UPDATE") in before
    migrations.upgrade(empty_db_url)
    assert rights() == before
    migrations.downgrade(empty_db_url, "base")
    assert rights() == before
