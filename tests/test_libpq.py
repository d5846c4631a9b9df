"""carepg's own libpq client (carepg/libpq.py), as `carepg shifts` and `carepg mrf ingest` use it: parameters,
arrays, COPY, transactions, and what it says when the server ends a session."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from carepg import libpq
from carepg.errors import ServerUnavailable, from_database

_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00"), max_size=20)


@pytest.fixture
def conn(db_url):
    with libpq.Connection(db_url) as connection:
        yield connection


def test_named_parameters_take_one_number_per_name_and_keep_percent_signs(conn):
    rows = conn.execute("SELECT %(a)s::int + %(b)s::int, %(a)s::text || '%%', %(none)s::text IS NULL",
                        {"a": 2, "b": 40, "none": None})
    assert rows == [("42", "2%", "t")]
    assert conn.execute("SELECT %s::int * %s::int", (6, 7)) == [("42",)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.none() | _TEXT, max_size=6), numbers=st.lists(st.integers(-2**63, 2**63 - 1), max_size=6))
def test_lists_reach_the_server_as_the_arrays_they_are(db_url, texts, numbers):
    with libpq.Connection(db_url) as connection:
        got = connection.execute("SELECT to_jsonb(%(t)s::text[]), to_jsonb(%(n)s::bigint[])",
                                 {"t": texts, "n": numbers})
    import json

    assert [json.loads(v) for v in got[0]] == [texts, numbers]


def test_a_copy_stores_its_rows_at_the_commit_and_nothing_when_its_block_raises(conn, postgresql):
    conn.execute("CREATE TABLE copied (a int, b text)")
    with conn.transaction(), conn.copy_in("COPY copied (a, b) FROM STDIN") as copy:
        copy.write("1\tone\n2\t\\N\n")
        copy.write(b"3\tth\\tree\n")
    assert conn.execute("SELECT a, b FROM copied ORDER BY a") == [("1", "one"), ("2", None), ("3", "th\tree")]
    with pytest.raises(RuntimeError), conn.transaction(), conn.copy_in("COPY copied (a, b) FROM STDIN") as copy:
        copy.write("4\tfour\n")
        raise RuntimeError("the producer failed")
    assert conn.execute("SELECT count(*) FROM copied") == [("3",)]  # and the session is usable again


def test_data_the_server_refuses_fails_the_copy_with_its_sqlstate(conn):
    conn.execute("CREATE TABLE copied (a int)")
    with pytest.raises(libpq.Error) as info, conn.copy_in("COPY copied (a) FROM STDIN") as copy:
        copy.write("not a number\n")
    assert info.value.sqlstate == "22P02"
    assert conn.execute("SELECT count(*) FROM copied") == [("0",)]


def test_server_notices_are_kept_off_stderr(conn, capfd):
    conn.execute("DO $$ BEGIN RAISE NOTICE 'a notice'; RAISE WARNING 'a warning'; END $$")
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("when", ["idle", "copying"])
def test_a_session_an_administrator_ends_says_so(conn, postgresql, capfd, when):
    """The server's own reason (57P01), not libpq's "server closed the connection", and nothing on stderr:
    whether the session was idle or in the middle of a COPY when it was terminated."""
    conn.execute("CREATE TABLE copied (a text)")

    def terminate() -> None:
        postgresql.execute("SELECT pg_terminate_backend(%s)", (conn.backend_pid,))
        postgresql.commit()
        time.sleep(0.2)

    with pytest.raises(libpq.Error) as info:
        if when == "idle":
            terminate()
            conn.execute("SELECT 1")
        else:
            with conn.transaction(), conn.copy_in("COPY copied (a) FROM STDIN") as copy:
                terminate()
                for _ in range(200):
                    copy.write("x" * 65536 + "\n")
    assert info.value.sqlstate == "57P01", (info.value.sqlstate, str(info.value))
    mapped = from_database(info.value)
    assert isinstance(mapped, ServerUnavailable) and mapped.message.startswith("database unavailable"), mapped
    assert capfd.readouterr().err == ""


def test_a_parameter_holding_a_nul_is_refused_not_cut_short(conn):
    with pytest.raises(libpq.Error) as info:
        conn.execute("SELECT %s::text", ("before\x00after",))
    assert info.value.sqlstate == "22021" and from_database(info.value).exit_code == 7


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.just("\x00"), max_size=30))
def test_any_text_parameter_arrives_whole_or_is_refused_for_its_nul(db_url, text):
    """Parameters are C strings to libpq: the server gets the whole text, or (a NUL inside) nothing at all."""
    with libpq.Connection(db_url) as connection:
        if "\x00" in text:
            with pytest.raises(libpq.Error) as info:
                connection.execute("SELECT %s::text", (text,))
            assert info.value.sqlstate == "22021" and "\n" not in from_database(info.value).message
        else:
            assert connection.execute("SELECT %s::text, length(%s::text)", (text, text)) == [(text, str(len(text)))]
