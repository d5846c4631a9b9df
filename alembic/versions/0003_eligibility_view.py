"""eligibility view: applies sql/migrations/0003_eligibility_view.sql

Revision ID: 0003
Revises: 0002
"""

from carepg.migrations import apply

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply("0003_eligibility_view.sql")


def downgrade() -> None:
    apply("0003_eligibility_view.down.sql")
