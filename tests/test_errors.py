"""The one error map (cli/carepg/errors.py) against what the SQL raises and what the README documents."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from carepg import errors, paths

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parent.parent


def raised_sqlstates() -> set[str]:
    """Every `ERRCODE = 'CP...'` in the SQL carepg ships (current definitions and frozen history alike)."""
    found = set()
    for path in paths.SQL_DIR.rglob("*.sql"):
        found |= set(re.findall(r"ERRCODE\s*=\s*'(CP[0-9A-Z]{3})'", path.read_text()))
    return found


def test_every_sqlstate_carepg_raises_is_mapped_and_every_mapped_one_is_raised():
    ours = {code for code in errors.SQLSTATE_ERRORS if code.startswith("CP")}
    assert raised_sqlstates() == ours


def error_classes() -> list[type[errors.CarepgError]]:
    seen, todo = [], [errors.CarepgError]
    while todo:
        cls = todo.pop()
        seen.append(cls)
        todo += cls.__subclasses__()
    return [c for c in seen if c.__module__.startswith("carepg")]


def test_every_error_class_lives_in_errors_py():
    import carepg.cli  # noqa: F401  (import everything that could define one)
    import carepg.mrf.ingest  # noqa: F401
    import carepg.web.app  # noqa: F401

    assert [c for c in error_classes() if c.__module__ != "carepg.errors"] == []


HTTP_ONLY = (errors.MethodNotAllowed, errors.TooLarge, errors.Unauthorized)  # no command raises these


def test_each_exit_code_means_one_thing():
    """Classes may share an exit code only when one is a kind of the other (a timeout is an unavailable server)."""
    classes = [c for c in error_classes() if c is not errors.CarepgError and c not in HTTP_ONLY]
    for a in classes:
        for b in classes:
            if a.exit_code == b.exit_code:
                assert issubclass(a, b) or issubclass(b, a), (a, b)
    # 1 is the bug's; 2 (Click's usage error) is never carepg's: a bad argument is invalid input, 7 (errors.py,
    # "the argument policy"); codes from 128 up are signals, which only Interrupted reports.
    assert not {errors.EXIT_BUG, 2} & {c.exit_code for c in classes}
    assert all(c.exit_code < 128 for c in classes if c is not errors.Interrupted)


def test_the_readme_table_lists_every_exit_code_and_status():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Errors and exit codes"):]
    for cls in error_classes():
        if cls is errors.CarepgError:
            continue
        row = f"`{cls.__name__}`"
        assert row in table, row
        line = next(line for line in table.splitlines() if row in line)
        if cls not in HTTP_ONLY:
            assert f"| {cls.exit_code} |" in line, line
        assert f"| {cls.http_status} |" in line, line


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("SELECT * FROM shifts.no_such_function(1)", errors.SchemaMissing),
        ("SELECT * FROM shifts_private.no_such_table", errors.SchemaMissing),
        ("SELECT 'x'::shifts.no_such_type", errors.SchemaMissing),
        ("SELECT no_such_schema.f()", errors.SchemaMissing),
        # By SQLSTATE alone: carepg sends only statements that name what its migrations create, so whatever is
        # undefined (an operator, a table of the application's) means a schema that is not this code's.
        ("SELECT 1 + 'a'::text", errors.SchemaMissing),
        ("SELECT * FROM no_such_table_of_the_app", errors.SchemaMissing),
        # A message that reads like a missing carepg object is not one: the SQLSTATE (P0001) decides.
        ("DO $$ BEGIN RAISE EXCEPTION 'relation \"shifts.x\" does not exist'; END $$", None),
        ("SELECT 1 / 0", None),
        ("SELECT 'x'::integer", errors.InvalidInput),
        ("SET ROLE carepg_api; SELECT * FROM public.\"Worker\"", errors.PermissionDenied),
        # What a query gets when a migration drops a function it had resolved (raised here, as the server does).
        ("DO $$ BEGIN RAISE EXCEPTION 'cache lookup failed for function 17370' USING ERRCODE = 'XX000'; END $$",
         errors.ServerUnavailable),
        ("DO $$ BEGIN RAISE EXCEPTION 'unexpected chunk number' USING ERRCODE = 'XX000'; END $$",
         errors.ServerUnavailable),
    ],
)
def test_not_migrated_means_a_carepg_object_is_missing(postgresql, statement, expected):
    with pytest.raises(psycopg.Error) as raised:
        postgresql.execute(statement)
    mapped = errors.from_database(raised.value)
    assert (type(mapped) if mapped else None) is expected, (raised.value.sqlstate, str(raised.value))


def test_a_column_gone_under_a_carepg_function_is_unavailable_not_a_bug(postgresql):
    """A migration that changes a column carepg's functions read can land between a session's compilation of a
    function and its statement: the statement fails with 42703 (undefined column) inside that function. That is the
    schema changing (503, retry); the same error from the application's own SQL stays a bug."""
    postgresql.execute("CREATE FUNCTION shifts_private.reads_a_dropped_column() RETURNS void LANGUAGE plpgsql AS "
                       "$$ BEGIN PERFORM s.no_such_column FROM shifts_private.eligibility_state AS s; END $$")
    with pytest.raises(psycopg.Error) as raised:
        postgresql.execute("SELECT shifts_private.reads_a_dropped_column()")
    postgresql.rollback()
    assert raised.value.sqlstate == "42703"
    mapped = errors.from_database(raised.value)
    assert type(mapped) is errors.ServerUnavailable and "retry" in mapped.message and "\n" not in mapped.message
    with pytest.raises(psycopg.Error) as raised:
        postgresql.execute('SELECT no_such_column FROM "Worker"')
    postgresql.rollback()
    assert errors.from_database(raised.value) is None


def test_a_serialization_failure_is_a_conflict_to_retry(db_url):
    """What a REPEATABLE READ claim that lost a race gets (40001), and a deadlock victim (40P01): retry."""
    with psycopg.connect(db_url, autocommit=True) as setup:
        setup.execute("CREATE TABLE race (x int)")
        setup.execute("INSERT INTO race VALUES (1)")
    with psycopg.connect(db_url) as late, psycopg.connect(db_url, autocommit=True) as rival:
        late.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        late.execute("SELECT * FROM race").fetchall()
        rival.execute("UPDATE race SET x = 2")
        with pytest.raises(psycopg.Error) as raised:
            late.execute("UPDATE race SET x = 3")
    assert raised.value.sqlstate == "40001"
    assert type(errors.from_database(raised.value)) is errors.Conflict
    assert errors.SQLSTATE_ERRORS["40P01"] is errors.Conflict


ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=120)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message=ANY_TEXT, dropped=st.booleans())
def test_an_internal_error_is_unavailable_whatever_it_says(postgresql, message, dropped):
    """XX000, the server's internal error (what a statement gets when a migration dropped what it had resolved:
    "cache lookup failed"), is a 503 to retry, in one line, whatever its text says."""
    text = ("cache lookup failed for " + message) if dropped else message
    postgresql.execute("CREATE OR REPLACE FUNCTION pg_temp.internal_error(msg text) RETURNS void LANGUAGE plpgsql"
                       " AS $$ BEGIN RAISE EXCEPTION '%', msg USING ERRCODE = 'XX000'; END $$")
    with pytest.raises(psycopg.Error) as raised:
        postgresql.execute("SELECT pg_temp.internal_error(%s)", (text,))
    postgresql.rollback()
    mapped = errors.from_database(raised.value)
    assert type(mapped) is errors.ServerUnavailable and mapped.http_status == 503 and mapped.exit_code == 10
    assert "retry" in mapped.message
    assert "\n" not in mapped.message and len(mapped.message) < 400


SQLSTATES = ["CP400", "CP403", "CP404", "CP409", "CP501", "40001", "22P02", "42501", "42P01", "42883", "3F000",
             "42704", "XX000", "57014", "P0001", "23505", "0A000"]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sqlstate=st.sampled_from(SQLSTATES), message=ANY_TEXT, other=st.sampled_from(SQLSTATES))
def test_the_sqlstate_decides_never_the_text(postgresql, sqlstate, message, other):
    """Two errors with the same SQLSTATE map to the same class whatever their messages say; the map never reads
    the text (which lc_messages translates and releases reword)."""
    postgresql.execute("CREATE OR REPLACE FUNCTION pg_temp.fail(code text, msg text) RETURNS void LANGUAGE plpgsql"
                       " AS $$ BEGIN RAISE EXCEPTION '%', msg USING ERRCODE = code; END $$")
    postgresql.commit()  # the function outlives the failed statements' rollbacks
    mapped = []
    for code, text in ((sqlstate, message), (sqlstate, "relation \"shifts.x\" does not exist"), (other, message)):
        with pytest.raises(psycopg.Error) as raised:
            postgresql.execute("SELECT pg_temp.fail(%s, %s)", (code, text))
        postgresql.rollback()
        assert raised.value.sqlstate == code
        result = errors.from_database(raised.value)
        mapped.append(type(result) if result is not None else None)
        if result is not None:
            assert "\n" not in result.message
    assert mapped[0] is mapped[1]
    if other == sqlstate:
        assert mapped[2] is mapped[0]
