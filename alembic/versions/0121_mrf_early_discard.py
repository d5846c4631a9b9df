"""mrf early discard: the replaced run's plan entries deleted while the index streams; applies
sql/migrations/0121_mrf_early_discard.sql

Revision ID: 0121
Revises: 0120
"""

from carepg.migrations import apply

revision = "0121"
down_revision = "0120"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply(__file__)  # sql/migrations/<this file's name>.sql


def downgrade() -> None:
    apply(__file__, down=True)  # sql/migrations/<this file's name>.down.sql
