"""Alembic environment: no ORM models, just carepg's frozen SQL files applied over a psycopg 3 connection.

Migrators take turns: a session-level advisory lock is held from before Alembic reads the database's revision
until the last revision is committed, so a second `carepg migrate` (or `alembic upgrade head`) started meanwhile
waits, then finds the work done and changes nothing. Each revision still commits on its own.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from carepg import db, migrations

config = context.config


def run_migrations_offline() -> None:
    context.configure(url="postgresql+psycopg://", literal_binds=True, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = config.attributes.get("url") or db.resolve_url()
    # The libpq URL goes to psycopg untouched (unix sockets, query parameters and all).
    engine = create_engine("postgresql+psycopg://", creator=lambda: db.connect(url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        with migrations.lock(connection.connection.driver_connection):
            # One transaction per revision: a failing revision rolls back alone and leaves the earlier ones applied.
            context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
            with context.begin_transaction():
                context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
