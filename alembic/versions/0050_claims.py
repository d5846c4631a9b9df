"""claims: claim_shift(), release_shift(), claimed_shifts(), available_shifts_by_day()

Revision ID: 0050
Revises: 0040
"""

from carepg.migrations import apply

revision = "0050"
down_revision = "0040"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply(__file__)  # sql/migrations/<this file's name>.sql


def downgrade() -> None:
    apply(__file__, down=True)  # sql/migrations/<this file's name>.down.sql
