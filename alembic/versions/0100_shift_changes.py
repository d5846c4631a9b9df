"""shift changes: the push feed

Revision ID: 0100
Revises: 0090
"""

from carepg.migrations import apply

revision = "0100"
down_revision = "0090"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply(__file__)  # sql/migrations/<this file's name>.sql


def downgrade() -> None:
    apply(__file__, down=True)  # sql/migrations/<this file's name>.down.sql
