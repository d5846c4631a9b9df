"""safe install: carepg_owner, private schemas, closed privileges

Revision ID: 0040
Revises: 0030
"""

from carepg.migrations import apply

revision = "0040"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply(__file__)  # sql/migrations/<this file's name>.sql


def downgrade() -> None:
    apply(__file__, down=True)  # sql/migrations/<this file's name>.down.sql
