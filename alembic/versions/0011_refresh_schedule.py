"""refresh schedule: applies sql/migrations/0011_refresh_schedule.sql

Revision ID: 0011
Revises: 0010
"""

from carepg.migrations import apply

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply("0011_refresh_schedule.sql")


def downgrade() -> None:
    apply("0011_refresh_schedule.down.sql")
