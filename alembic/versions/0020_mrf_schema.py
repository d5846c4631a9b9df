"""price-transparency index and its reference rows

Revision ID: 0020
Revises: 0011
"""

from carepg.migrations import apply

revision = "0020"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply(__file__)  # sql/migrations/<this file's name>.sql
    apply("0020_mrf_reference.sql")  # and the reference rows, a file of their own


def downgrade() -> None:
    apply(__file__, down=True)  # sql/migrations/<this file's name>.down.sql
