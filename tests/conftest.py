"""Test fixtures: one real PostgreSQL server per test session, started by carepg's own cluster code.

pytest-postgresql does the database bookkeeping: the migrated schema is built once into a template
database and every test gets a fresh clone of it (`postgresql` = a psycopg connection to that clone,
`db_url` = its URL for code that opens its own connections, such as the CLI).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import psycopg
import pytest
from pytest_postgresql import factories

from carepg import cluster, migrations

# The HTTP tests' seeded database and `carepg serve` process (tests/web_fixtures.py).
pytest_plugins = ["web_fixtures"]

# Durability buys nothing in tests; these make the template clone and writes much cheaper.
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


@dataclasses.dataclass
class ServerInfo:
    """What pytest-postgresql's noproc factory reads from the fixture it depends on."""

    host: str
    port: int
    user: str = cluster.DB_USER
    password: str | None = None
    options: str = ""
    maintenance_dbname: str = "postgres"
    template_dbname: str | None = None


def url_for(host: str, port: int, dbname: str, user: str = cluster.DB_USER) -> str:
    return f"postgresql://{user}@/{dbname}?host={host}&port={port}"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[cluster.Cluster]:
    """A throw-away cluster (unix socket only) for the whole session, torn down at the end."""
    with cluster.temporary("carepg-tests-", settings=FAST_SETTINGS) as server:
        yield server


@pytest.fixture(scope="session")
def pg_server(pg_cluster: cluster.Cluster) -> ServerInfo:
    return ServerInfo(host=str(pg_cluster.socket_dir), port=pg_cluster.port)


def load_migrated_schema(host: str, port: int, user: str, dbname: str, **_: object) -> None:
    """Template loader: the schema exactly as `carepg migrate` builds it."""
    migrations.upgrade(url_for(host, port, dbname, user))


pg_template = factories.postgresql_noproc(dbname="carepg_tests", depends_on="pg_server", load=[load_migrated_schema])
postgresql = factories.postgresql("pg_template")

# The CLI tests' data: `carepg seed --shifts 3000 --seed 11` run once per session into a second template, which each
# test clones like the first (seeding once instead of once per test); SEED_RUN keeps what that run printed.
SEED_ARGS = ["seed", "--shifts", "3000", "--seed", "11"]
SEED_RUN: list = []


def load_seeded_challenge(host: str, port: int, user: str, dbname: str, **_: object) -> None:
    """Template loader: the migrated schema, then the seed exactly as a user runs it (through the CLI)."""
    from typer.testing import CliRunner

    from carepg.cli import app

    url = url_for(host, port, dbname, user)
    migrations.upgrade(url)
    result = CliRunner().invoke(app, SEED_ARGS, env={"DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    SEED_RUN[:] = [result]


pg_seeded_template = factories.postgresql_noproc(
    dbname="carepg_tests_seeded", depends_on="pg_server", load=[load_seeded_challenge]
)


@pytest.fixture
def db_url(postgresql: psycopg.Connection) -> str:
    """URL of this test's own database (a clone of the migrated template)."""
    info = postgresql.info
    return url_for(info.host, info.port, info.dbname, info.user)


@pytest.fixture
def empty_db_url(pg_server: ServerInfo) -> Iterator[str]:
    """A brand-new database with nothing in it (for migration tests)."""
    name = f"carepg_empty_{next(_counter)}"
    admin = url_for(pg_server.host, pg_server.port, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
    try:
        yield url_for(pg_server.host, pg_server.port, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(psycopg.sql.SQL("DROP DATABASE {} WITH (FORCE)").format(psycopg.sql.Identifier(name)))


def _count() -> Iterator[int]:
    n = 0
    while True:
        n += 1
        yield n


_counter = _count()
