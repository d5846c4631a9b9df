"""window scan: a window's start bounds the index scan

Revision ID: 0070
Revises: 0060
"""

from carepg.migrations import apply

revision = "0070"
down_revision = "0060"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply(__file__)  # sql/migrations/<this file's name>.sql


def downgrade() -> None:
    apply(__file__, down=True)  # sql/migrations/<this file's name>.down.sql
