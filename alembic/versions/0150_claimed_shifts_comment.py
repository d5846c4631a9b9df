"""claimed shifts comment

Revision ID: 0150
Revises: 0140
"""

from carepg.migrations import apply

revision = "0150"
down_revision = "0140"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply(__file__)  # sql/migrations/<this file's name>.sql


def downgrade() -> None:
    apply(__file__, down=True)  # sql/migrations/<this file's name>.down.sql
