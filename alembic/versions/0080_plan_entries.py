"""plan entries: stored as the index streams

Revision ID: 0080
Revises: 0070
"""

from carepg.migrations import apply

revision = "0080"
down_revision = "0070"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply(__file__)  # sql/migrations/<this file's name>.sql


def downgrade() -> None:
    apply(__file__, down=True)  # sql/migrations/<this file's name>.down.sql
