"""per-key locks: a change waits only for what it can change; applies sql/migrations/0090_per_key_locks.sql

Revision ID: 0090
Revises: 0080
"""

from carepg.migrations import apply

revision = "0090"
down_revision = "0080"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply("0090_per_key_locks.sql")


def downgrade() -> None:
    apply("0090_per_key_locks.down.sql")
