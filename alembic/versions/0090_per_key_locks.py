"""per-key locks: a change waits only for what it can change

Revision ID: 0090
Revises: 0080
"""

from carepg.migrations import apply

revision = "0090"
down_revision = "0080"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply(__file__)  # sql/migrations/<this file's name>.sql


def downgrade() -> None:
    apply(__file__, down=True)  # sql/migrations/<this file's name>.down.sql
