"""shift changes: the push feed; applies sql/migrations/0100_shift_changes.sql

Revision ID: 0100
Revises: 0090
"""

from carepg.migrations import apply

revision = "0100"
down_revision = "0090"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply("0100_shift_changes.sql")


def downgrade() -> None:
    apply("0100_shift_changes.down.sql")
