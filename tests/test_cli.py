"""The `carepg` command through Typer's runner, against the test's own database (DATABASE_URL)."""

from __future__ import annotations

import base64
import json

import psycopg
import pytest
from pytest_postgresql import factories
from typer.testing import CliRunner

from carepg.cli import app
from carepg.errors import Conflict, InvalidInput, NotFound, SchemaMissing, ServerUnavailable
from conftest import SEED_RUN

pytestmark = pytest.mark.fast

runner = CliRunner()

# Each test's database is a clone of the session's seeded template (conftest: `carepg seed` ran once into it).
postgresql = factories.postgresql("pg_seeded_template")


@pytest.fixture
def cli(db_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", db_url)

    def invoke(*args: str):
        return runner.invoke(app, list(args))

    return invoke


@pytest.fixture
def seeded(cli):
    """The database holds the seed's data; returns that seed's run (its output says which workers it made)."""
    return SEED_RUN[0]


def one_line_error(result) -> str:
    """User errors: exactly one line on stderr, starting with 'error:', and no traceback."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    return lines[0]


def test_seed_prints_the_deterministic_workers(seeded):
    assert "CNA worker ID: 101" in seeded.stdout
    assert "LVN worker ID: 102" in seeded.stdout
    assert "RN worker ID: 103" in seeded.stdout


def test_seed_refuses_a_non_empty_database(cli, seeded):
    result = cli("seed", "--shifts", "10")
    assert result.exit_code == Conflict.exit_code
    assert "--reset" in one_line_error(result)


def test_shifts_table_and_cursor(cli, seeded):
    result = cli("shifts", "101", "--limit", "3")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0].split()[:2] == ["shift", "start"]
    assert len(lines) == 5 and lines[-1].startswith("next page: --after ")


def test_json_pages_through_the_whole_answer(cli, seeded, db_url):
    with psycopg.connect(db_url) as conn:
        total = conn.execute("SELECT shifts.count_available_shifts(101)").fetchone()[0]
    assert total > 100
    seen, after = [], None
    while True:
        args = ["shifts", "101", "--json", "--limit", "97"] + (["--after", after] if after else [])
        result = cli(*args)
        assert result.exit_code == 0, result.output
        page = json.loads(result.stdout)
        seen += [s["id"] for s in page["shifts"]]
        after = page["next_cursor"]
        if after is None:
            break
    assert len(seen) == len(set(seen)) == total
    first = json.loads(cli("shifts", "101", "--json", "--limit", "1").stdout)["shifts"][0]
    assert set(first) == {"id", "start", "end", "profession", "facility"}
    assert set(first["facility"]) == {"id", "name"}


def test_window_options(cli, seeded):
    page = json.loads(cli("shifts", "102", "--json", "--from", "2023-02-10", "--to", "2023-02-11",
                          "--limit", "1000").stdout)  # fmt: skip
    starts = [s["start"] for s in page["shifts"]]
    assert starts and all("2023-02-10T" <= s < "2023-02-11" for s in starts)


def test_from_now_hides_shifts_that_already_started(cli, seeded):
    assert json.loads(cli("shifts", "101", "--json").stdout)["shifts"]  # the seed's shifts are in 2023
    result = cli("shifts", "101", "--json", "--from", "now")
    assert result.exit_code == 0 and json.loads(result.stdout)["shifts"] == []


def test_unknown_worker(cli, seeded):
    result = cli("shifts", "424242")
    assert result.exit_code == NotFound.exit_code
    assert one_line_error(result) == "error: worker 424242 does not exist"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--from", "next tuesday"], "invalid --from"),
        (["--to", "2023-13-01"], "invalid --to"),
        (["--from", "2023-03-01", "--to", "2023-02-01"], "is after"),
        (["--limit", "0"], "invalid limit"),
        (["--limit", "1001"], "invalid limit"),
        (["--after", "bm90IGEgY3Vyc29y"], "invalid cursor"),
        (["--after", base64.urlsafe_b64encode(b"[" * 1000).decode()], "invalid cursor"),
    ],
)
def test_bad_input_is_one_clear_line(cli, seeded, args, needle):
    result = cli("shifts", "101", *args)
    assert result.exit_code == InvalidInput.exit_code
    assert needle in one_line_error(result)


def test_database_unreachable(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@/nowhere?host={tmp_path}&port=1")
    result = runner.invoke(app, ["shifts", "101"])
    assert result.exit_code == ServerUnavailable.exit_code
    assert "cannot connect to DATABASE_URL" in one_line_error(result)


def test_migrations_not_applied(monkeypatch, empty_db_url):
    monkeypatch.setenv("DATABASE_URL", empty_db_url)
    result = runner.invoke(app, ["shifts", "101"])
    assert result.exit_code == SchemaMissing.exit_code
    assert "carepg migrate" in one_line_error(result)


def test_migrate_command(monkeypatch, empty_db_url):
    monkeypatch.setenv("DATABASE_URL", empty_db_url)
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    assert "database at revision" in result.stdout
    result = runner.invoke(app, ["migrate", "--down", "base"])
    assert result.exit_code == 0 and "revision base" in result.stdout


def test_refresh_picks_up_new_documents(cli, seeded, db_url):
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("""UPDATE "Worker" SET is_active = true WHERE id = 1""")
        conn.execute("""INSERT INTO "DocumentWorker" (worker_id, document_id) SELECT 1, id FROM "Document" """)
        assert conn.execute("SELECT count(*) FROM shifts_private.eligible_pair WHERE worker_id = 1").fetchone()[0] == 0
        assert cli("refresh").exit_code == 0
        eligible = conn.execute("SELECT count(*) FROM shifts_private.eligible_pair WHERE worker_id = 1").fetchone()[0]
        active = conn.execute('SELECT count(*) FROM "Facility" WHERE is_active').fetchone()[0]
        assert eligible == active


def test_demo_totals_equal_an_independent_count(cli, monkeypatch, empty_db_url):
    monkeypatch.setenv("DATABASE_URL", empty_db_url)
    result = runner.invoke(app, ["demo", "--shifts", "6000", "--limit", "2"])
    assert result.exit_code == 0, result.output
    with psycopg.connect(empty_db_url) as conn:
        for worker_id, profession in conn.execute(
            """SELECT id, profession::text FROM "Worker" WHERE name LIKE 'Deterministic%' ORDER BY id"""
        ).fetchall():
            live = conn.execute(
                """SELECT count(*) FROM "Shift" s JOIN "Facility" f ON f.id = s.facility_id
                   WHERE f.is_active AND NOT s.is_deleted AND s.worker_id IS NULL AND s.profession = %s""",
                (profession,),
            ).fetchone()[0]
            assert f"{profession} worker ID: {worker_id} - {live:,} available shifts" in result.stdout
