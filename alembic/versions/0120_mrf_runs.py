"""mrf runs: the runs listing and the run lock as SQL functions

Revision ID: 0120
Revises: 0110
"""

from carepg.migrations import apply

revision = "0120"
down_revision = "0110"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply(__file__)  # sql/migrations/<this file's name>.sql


def downgrade() -> None:
    apply(__file__, down=True)  # sql/migrations/<this file's name>.down.sql
