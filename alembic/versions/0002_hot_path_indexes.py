"""hot path indexes: applies sql/migrations/0002_hot_path_indexes.sql

Revision ID: 0002
Revises: 0001
"""

from carepg.migrations import apply

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply("0002_hot_path_indexes.sql")


def downgrade() -> None:
    apply("0002_hot_path_indexes.down.sql")
