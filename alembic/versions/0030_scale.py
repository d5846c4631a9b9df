"""scale: covering open-shift indexes, eligible pairs via the rarest document

Revision ID: 0030
Revises: 0020
"""

from carepg.migrations import apply

revision = "0030"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply(__file__)  # sql/migrations/<this file's name>.sql


def downgrade() -> None:
    apply(__file__, down=True)  # sql/migrations/<this file's name>.down.sql
