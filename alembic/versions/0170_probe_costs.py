"""probe costs

Revision ID: 0170
Revises: 0160
"""

from carepg.migrations import apply

revision = "0170"
down_revision = "0160"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply(__file__)  # sql/migrations/<this file's name>.sql


def downgrade() -> None:
    apply(__file__, down=True)  # sql/migrations/<this file's name>.down.sql
