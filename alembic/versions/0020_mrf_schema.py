"""price-transparency index: applies sql/migrations/0020_mrf_schema.sql and its reference rows

Revision ID: 0020
Revises: 0011
"""

from carepg.migrations import apply

revision = "0020"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply("0020_mrf_schema.sql")
    apply("0020_mrf_reference.sql")


def downgrade() -> None:
    apply("0020_mrf_schema.down.sql")
