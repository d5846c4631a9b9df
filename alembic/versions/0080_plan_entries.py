"""plan entries: stored as the index streams; applies sql/migrations/0080_plan_entries.sql

Revision ID: 0080
Revises: 0070
"""

from carepg.migrations import apply

revision = "0080"
down_revision = "0070"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply("0080_plan_entries.sql")


def downgrade() -> None:
    apply("0080_plan_entries.down.sql")
