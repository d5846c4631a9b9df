"""Alembic environment: no ORM models, just carepg's frozen SQL files applied over a psycopg 3 connection."""

from __future__ import annotations

import psycopg
from alembic import context
from sqlalchemy import create_engine, pool

from carepg import db

config = context.config


def run_migrations_offline() -> None:
    context.configure(url="postgresql+psycopg://", literal_binds=True, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # handed over by carepg.migrations (tests, `carepg migrate`)
        _run(connection)
        return
    url = config.attributes.get("url") or db.resolve_url()
    # The libpq URL goes to psycopg untouched (unix sockets, query parameters and all).
    engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(url), poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)


def _run(connection) -> None:
    # One transaction per revision: a failing revision rolls back alone and leaves the earlier ones applied.
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
