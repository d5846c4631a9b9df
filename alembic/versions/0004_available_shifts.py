"""available shifts: applies sql/migrations/0004_available_shifts.sql

Revision ID: 0004
Revises: 0003
"""

from carepg.migrations import apply

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply("0004_available_shifts.sql")


def downgrade() -> None:
    apply("0004_available_shifts.down.sql")
