"""plans kept

Revision ID: 0130
Revises: 0121
"""

from carepg.migrations import apply

revision = "0130"
down_revision = "0121"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply(__file__)  # sql/migrations/<this file's name>.sql


def downgrade() -> None:
    apply(__file__, down=True)  # sql/migrations/<this file's name>.down.sql
