"""fresh eligibility: applies sql/migrations/0005_fresh_eligibility.sql

Revision ID: 0005
Revises: 0004
"""

from carepg.migrations import apply

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply("0005_fresh_eligibility.sql")


def downgrade() -> None:
    apply("0005_fresh_eligibility.down.sql")
    apply("0004_available_shifts.sql")  # the functions as 0004 defined them
