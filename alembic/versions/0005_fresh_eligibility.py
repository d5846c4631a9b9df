"""fresh eligibility

Revision ID: 0005
Revises: 0004
"""

from carepg.migrations import apply

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply(__file__)  # sql/migrations/<this file's name>.sql


def downgrade() -> None:
    apply(__file__, down=True)  # sql/migrations/<this file's name>.down.sql
    apply("0004_available_shifts.sql")  # the functions as 0004 defined them
