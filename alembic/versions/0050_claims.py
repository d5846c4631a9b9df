"""claims: claim_shift(), release_shift(), claimed_shifts(), available_shifts_by_day(); applies sql/migrations/0050_claims.sql

Revision ID: 0050
Revises: 0040
"""

from carepg.migrations import apply

revision = "0050"
down_revision = "0040"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply("0050_claims.sql")


def downgrade() -> None:
    apply("0050_claims.down.sql")
