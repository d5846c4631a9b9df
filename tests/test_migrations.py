"""Migrations: up, down and up again, on an empty database and on one that already holds the challenge."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

import schema_dump
from carepg import migrations, paths
from conftest import url_for
from carepg.errors import Conflict

ROOT = Path(__file__).resolve().parent.parent
CHALLENGE_TABLES = ["Worker", "Facility", "Document", "FacilityRequirement", "DocumentWorker", "Shift"]


def objects(url: str) -> dict[str, list[str]]:
    """What exists, by kind: enough to tell one migration step from another."""
    with psycopg.connect(url) as conn:
        q = lambda sql: [r[0] for r in conn.execute(sql).fetchall()]  # noqa: E731
        return {
            "tables": q("SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
                        " AND relkind = 'r' AND relname <> 'alembic_version' ORDER BY 1"),  # fmt: skip
            "indexes": q("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'carepg%' ORDER BY 1"),
            "schemas": q("SELECT nspname FROM pg_namespace WHERE nspname IN ('shifts', 'shifts_private', 'mrf',"
                         " 'mrf_private', 'carepg_ext') ORDER BY 1"),
            "extensions": q("SELECT extname FROM pg_extension ORDER BY 1"),
            "triggers": q("SELECT tgname || ' ON ' || tgrelid::regclass::text FROM pg_trigger"
                          " WHERE NOT tgisinternal ORDER BY 1"),  # fmt: skip
            "views": q("SELECT matviewname FROM pg_matviews ORDER BY 1"),
            "functions": q("SELECT pronamespace::regnamespace || '.' || proname FROM pg_proc"
                           " WHERE pronamespace::regnamespace::text IN ('shifts', 'shifts_private', 'mrf', 'mrf_private')"
                           " ORDER BY 1"),  # fmt: skip
            "relations": q("SELECT oid::regclass::text FROM pg_class WHERE relkind IN ('r', 'm', 'v')"
                           " AND relnamespace::regnamespace::text IN ('shifts', 'shifts_private', 'mrf', 'mrf_private')"
                           " ORDER BY 1"),  # fmt: skip
            "types": q("SELECT typname FROM pg_type WHERE typname = 'Profession'"),
        }


def data_fingerprint(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return {
            t: conn.execute(psycopg.sql.SQL("SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x.id), '')) FROM {} x")
                            .format(psycopg.sql.Identifier(t))).fetchone()[0]  # fmt: skip
            for t in CHALLENGE_TABLES
        }


def make_challenge_database(url: str) -> None:
    """A database shaped like the challenge's docker-compose one: Prisma's tables (no carepg markers),
    Prisma's bookkeeping table, and data."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(paths.sql_text("migrations/0001_challenge_schema.sql"))
        for t in CHALLENGE_TABLES:  # Prisma writes no comments: these tables are not ours
            conn.execute(psycopg.sql.SQL("COMMENT ON TABLE {} IS NULL").format(psycopg.sql.Identifier(t)))
        conn.execute('COMMENT ON TYPE "Profession" IS NULL')
        conn.execute('CREATE TABLE "_prisma_migrations" (id varchar(36) PRIMARY KEY, migration_name text)')
        conn.execute("""
            INSERT INTO "Document" (name, is_active) VALUES ('d1', true), ('d2', false);
            INSERT INTO "Facility" (name, is_active) VALUES ('f1', true), ('f2', true), ('f3', false);
            INSERT INTO "Worker" (name, is_active, profession) VALUES ('w1', true, 'CNA'), ('w2', true, 'RN');
            INSERT INTO "FacilityRequirement" (facility_id, document_id) VALUES (1, 1), (1, 1), (2, 2);
            INSERT INTO "DocumentWorker" (worker_id, document_id) VALUES (1, 1), (2, 1), (2, 2);
            INSERT INTO "Shift" (start, "end", profession, facility_id, worker_id, is_deleted) VALUES
                ('2023-02-01 05:00:00.344', '2023-02-01 10:00:00.344', 'CNA', 1, NULL, false),
                ('2023-02-02 13:00:00.001', '2023-02-02 18:00:00.001', 'CNA', 2, NULL, false),
                ('2023-02-03 20:00:00.999', '2023-02-04 01:00:00.999', 'RN', 2, NULL, false),
                ('2023-02-03 20:00:00.500', '2023-02-04 01:00:00.500', 'CNA', 3, NULL, false),
                ('2023-02-04 05:00:00.000', '2023-02-04 10:00:00.000', 'CNA', 1, 2, false);
        """)


def test_up_down_up_on_an_empty_database(empty_db_url, pg_server):
    nothing = objects(empty_db_url)
    migrations.upgrade(empty_db_url)
    migrated = objects(empty_db_url)
    assert migrated["tables"] == sorted(CHALLENGE_TABLES)
    assert migrated["schemas"] == ["carepg_ext", "mrf", "mrf_private", "shifts", "shifts_private"]
    assert "shifts.available_shifts" in migrated["functions"] and migrated["views"] and migrated["triggers"]
    # Everything else is what the current files define (no list here to keep in step with sql/).
    assert migrated == objects(_database_from_current_files(pg_server))
    assert migrations.current(empty_db_url) == migrations.head()

    migrations.downgrade(empty_db_url, "base")
    assert objects(empty_db_url) == nothing
    assert migrations.current(empty_db_url) is None

    migrations.upgrade(empty_db_url)
    assert objects(empty_db_url) == migrated


def _database_from_current_files(server) -> str:
    """A new database built from sql/install.sql's files (dropped with the session's cluster)."""
    name = f"carepg_current_{os.getpid()}_{next(_built)}"
    with psycopg.connect(url_for(server.host, server.port, "postgres"), autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
    url = url_for(server.host, server.port, name)
    schema_dump.install_current(url)
    return url


_built = itertools.count()


def test_every_step_downgrades_to_exactly_the_previous_step(empty_db_url):
    script = migrations.ScriptDirectory.from_config(migrations.config())
    revisions = [r.revision for r in reversed(list(script.walk_revisions()))]
    states = [objects(empty_db_url)]
    for rev in revisions:
        migrations.upgrade(empty_db_url, rev)
        states.append(objects(empty_db_url))
    for i in range(len(revisions) - 1, -1, -1):
        migrations.downgrade(empty_db_url, "-1")
        assert objects(empty_db_url) == states[i], f"downgrade of {revisions[i]}"


def test_the_newest_revision_downgrades_to_exactly_the_schema_before_it(empty_db_url, pg_cluster):
    """What a deploy rolls back first: down must restore the previous revision to the last privilege and comment."""
    previous = migrations.revisions()[-2]
    migrations.upgrade(empty_db_url, previous)
    before = [schema_dump.dump(empty_db_url, pg_cluster.bindir, data=data) for data in (False, True)]
    migrations.upgrade(empty_db_url)
    migrations.downgrade(empty_db_url, "-1")
    assert [schema_dump.dump(empty_db_url, pg_cluster.bindir, data=data) for data in (False, True)] == before


def test_an_existing_challenge_database_keeps_its_tables_and_data(empty_db_url):
    make_challenge_database(empty_db_url)
    before = data_fingerprint(empty_db_url)

    migrations.upgrade(empty_db_url)
    assert data_fingerprint(empty_db_url) == before
    with psycopg.connect(empty_db_url) as conn:
        assert conn.execute("SELECT obj_description('\"Shift\"'::regclass)").fetchone()[0] is None  # untouched
        rows = conn.execute("SELECT shift_id FROM shifts.available_shifts(1)").fetchall()
        assert [r[0] for r in rows] == [1]  # f2 needs d2 (w1 lacks it), f3 inactive, shift 5 claimed
        rows = conn.execute("SELECT shift_id FROM shifts.available_shifts(2)").fetchall()
        assert [r[0] for r in rows] == [3]

    migrations.downgrade(empty_db_url, "base")
    after = objects(empty_db_url)
    assert after["tables"] == sorted([*CHALLENGE_TABLES, "_prisma_migrations"])
    assert after["types"] == ["Profession"]
    assert after["indexes"] == [] and after["schemas"] == [] and after["views"] == []
    assert data_fingerprint(empty_db_url) == before

    migrations.upgrade(empty_db_url)
    assert data_fingerprint(empty_db_url) == before


def test_stored_plan_entries_move_to_their_runs_partitions_and_back(empty_db_url):
    """0190 partitions mrf_private.plan_entry by run: the rows already stored move to their runs' partitions (a run
    recorded as running gets an empty one, so its COPY still lands), the views read them as before, and the
    downgrade puts every row back in one table."""
    migrations.upgrade(empty_db_url, "0180")
    with psycopg.connect(empty_db_url) as conn:
        runs = [conn.execute("INSERT INTO mrf_private.ingest_run (source) VALUES (%s) RETURNING run_id",
                             (f"toc{i}.json",)).fetchone()[0] for i in range(3)]
        for run, n in zip(runs[:2], (3, 2)):
            for i in range(n):
                conn.execute("INSERT INTO mrf_private.plan_entry (run_id, set_id, plan_key, plan_name)"
                             " VALUES (%s, 1, %s, %s)", (run, i % 2, f"Plan {i} - PPO"))
        conn.execute("UPDATE mrf_private.ingest_run SET status = 'succeeded', finished_at = now()"
                     " WHERE run_id = ANY(%s)", (runs[:2],))
    rows = "SELECT run_id, plan_key, plan_name FROM mrf_private.plan_entry ORDER BY 1, 3"
    views = "SELECT (SELECT count(*) FROM mrf_private.plan), (SELECT count(*) FROM mrf_private.plan_file_set)"
    with psycopg.connect(empty_db_url) as conn:
        before, seen = conn.execute(rows).fetchall(), conn.execute(views).fetchone()

    migrations.upgrade(empty_db_url, "0190")
    with psycopg.connect(empty_db_url) as conn:
        assert conn.execute(rows).fetchall() == before and conn.execute(views).fetchone() == seen
        for run, n in zip(runs, (3, 2, 0)):
            assert conn.execute(psycopg.sql.SQL("SELECT count(*) FROM {}").format(psycopg.sql.SQL(
                conn.execute("SELECT mrf.plan_entry_table(%s)", (run,)).fetchone()[0]))).fetchone() == (n,)
        conn.execute("INSERT INTO mrf_private.plan_entry (run_id, set_id, plan_key, plan_name)"
                     " VALUES (%s, 1, 1, 'Late - HMO')", (runs[2],))  # the running run's COPY lands
        before = conn.execute(rows).fetchall()

    migrations.downgrade(empty_db_url, "0180")
    with psycopg.connect(empty_db_url) as conn:
        assert conn.execute(rows).fetchall() == before
        assert conn.execute("SELECT relkind FROM pg_class WHERE oid = 'mrf_private.plan_entry'::regclass"
                            ).fetchone() == ("r",)


def test_a_step_that_loses_a_deadlock_to_the_application_runs_again(empty_db_url):
    """The application reads one view, the downgrade replaces another and then waits for the first, and the
    application then reads the one the downgrade holds: a deadlock, whose victim is the step (it waited first and
    the application's deadlock check is set later). The step rolls back and the command runs it again."""
    migrations.upgrade(empty_db_url, "0190")
    app = psycopg.connect(empty_db_url)
    app.execute("SET deadlock_timeout = '20s'")
    app.execute("SELECT FROM mrf_private.plan_file_set LIMIT 1")
    read: list = []

    def read_the_other_view() -> None:
        with psycopg.connect(empty_db_url, autocommit=True) as watcher:
            waiting = ("SELECT count(*) FROM pg_locks WHERE NOT granted"
                       " AND relation = 'mrf_private.plan_file_set'::regclass")
            deadline = time.monotonic() + 30
            while watcher.execute(waiting).fetchone()[0] == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
        read.append(app.execute("SELECT count(*) FROM mrf_private.plan").fetchone())
        app.commit()

    reader = threading.Thread(target=read_the_other_view)
    reader.start()
    try:
        migrations.downgrade(empty_db_url, "-1")
    finally:
        reader.join(60)
        app.close()
    assert read == [(0,)]
    assert migrations.current(empty_db_url) == "0180"  # one step down, not two


def test_a_relative_target_is_pinned_before_any_step_runs(empty_db_url):
    """A retried command must go where the first attempt was asked to, whatever steps committed meanwhile."""
    known = migrations.revisions()
    assert migrations._pinned(empty_db_url, "+1") == known[0]
    assert migrations._pinned(empty_db_url, "-1") == "-1"  # nowhere to go: Alembic's own refusal
    migrations.upgrade(empty_db_url, known[2])
    assert [migrations._pinned(empty_db_url, r) for r in ("-1", "-3", "+2", "head", known[0])] == [
        known[1], "base", known[4], "head", known[0]]
    assert migrations._pinned(empty_db_url, f"+{len(known)}") == f"+{len(known)}"


def test_a_partial_challenge_schema_is_refused_with_a_clear_error(empty_db_url):
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        conn.execute('CREATE TABLE "Worker" (id serial PRIMARY KEY)')
    with pytest.raises(Conflict, match="only some of the challenge tables"):
        migrations.upgrade(empty_db_url)
    assert migrations.current(empty_db_url) is None  # nothing half-applied


def test_migrations_produce_exactly_the_committed_schema(postgresql, pg_cluster):
    major = postgresql.info.server_version // 10000
    if schema_dump.committed_major() != major:
        pytest.skip(f"sql/schema.sql was dumped by pg_dump {schema_dump.committed_major()}, server is {major}")
    info = postgresql.info
    url = f"postgresql://{info.user}@/{info.dbname}?host={info.host}&port={info.port}"
    assert schema_dump.dump(url, pg_cluster.bindir) == schema_dump.SCHEMA_FILE.read_text(), (
        "sql/schema.sql is stale: run `make schema` and commit it"
    )


def test_one_head_and_offline_sql():
    script = migrations.ScriptDirectory.from_config(migrations.config())
    assert len(script.get_heads()) == 1
    sql = migrations.sql_preview()
    assert "CREATE FUNCTION shifts.available_shifts" in sql
    assert "CREATE MATERIALIZED VIEW shifts.eligible_pair" in sql


def test_alembic_command_works_from_the_repository_root(empty_db_url):
    env = {**os.environ, "DATABASE_URL": empty_db_url}
    alembic = Path(sys.executable).with_name("alembic")
    result = subprocess.run([str(alembic), "upgrade", "head"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert migrations.current(empty_db_url) == migrations.head()


def _migrators(url: str, commands: list[list[str]]) -> list[subprocess.CompletedProcess]:
    """Start every command at once against `url`, wait for all."""
    env = {**os.environ, "DATABASE_URL": url}
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for cmd in commands]  # fmt: skip
    return [subprocess.CompletedProcess(p.args, p.wait(), *p.communicate()) for p in procs]


BIN = Path(sys.executable).parent
CARE_MIGRATE = [str(BIN / "carepg"), "migrate"]
ALEMBIC_UPGRADE = [str(BIN / "alembic"), "upgrade", "head"]


@pytest.mark.slow
@pytest.mark.parametrize("round_", range(3))
def test_concurrent_migrators_take_turns_and_all_succeed(empty_db_url, round_):
    results = _migrators(empty_db_url, [CARE_MIGRATE, CARE_MIGRATE, ALEMBIC_UPGRADE])
    for result in results:
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    assert migrations.current(empty_db_url) == migrations.head()
    assert sum("database at revision" in r.stdout for r in results) == 2
    # Every revision ran once: a second run would have failed on CREATE SCHEMA.
    with psycopg.connect(empty_db_url) as conn:
        assert conn.execute("SELECT count(*) FROM public.alembic_version").fetchone()[0] == 1


@pytest.mark.slow
def test_migrators_of_several_databases_of_a_new_server_create_its_roles_once():
    """Roles belong to the server: databases migrated at the same time on a fresh one race to create them."""
    from conftest import FAST_SETTINGS
    from carepg import cluster

    with cluster.temporary("carepg-roles-", settings=FAST_SETTINGS) as server:
        with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
            for n in range(3):
                conn.execute(f"CREATE DATABASE fresh{n}")
        env = os.environ.copy()
        procs = [
            subprocess.Popen(CARE_MIGRATE, env={**env, "DATABASE_URL": server.url(f"fresh{n}")},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for n in range(3)
        ]  # fmt: skip
        for proc in procs:
            _, stderr = proc.communicate()
            assert proc.returncode == 0, stderr
        for n in range(3):
            assert migrations.current(server.url(f"fresh{n}")) == migrations.head()


def test_migrate_errors_are_one_line(empty_db_url, tmp_path):
    from carepg.errors import InvalidInput, ServerUnavailable

    env = {**os.environ, "DATABASE_URL": f"postgresql://postgres@/nowhere?host={tmp_path}&port=1"}
    cases = [
        (env, CARE_MIGRATE, ServerUnavailable.exit_code, "cannot connect"),
        ({**os.environ, "DATABASE_URL": empty_db_url}, [*CARE_MIGRATE, "no-such-revision"], InvalidInput.exit_code,
         "cannot migrate to 'no-such-revision'"),
        ({**os.environ, "DATABASE_URL": empty_db_url}, [*CARE_MIGRATE, "--down", "9999"], InvalidInput.exit_code,
         "cannot migrate to '9999'"),
    ]  # fmt: skip
    for environment, command, code, needle in cases:
        result = subprocess.run(command, env=environment, capture_output=True, text=True)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == code, result.stderr
        assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], result.stderr
