"""challenge schema

Revision ID: 0001
Revises: None
"""

from carepg.migrations import apply

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply(__file__)  # sql/migrations/<this file's name>.sql


def downgrade() -> None:
    apply(__file__, down=True)  # sql/migrations/<this file's name>.down.sql
