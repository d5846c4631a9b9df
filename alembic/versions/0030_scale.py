"""scale: covering open-shift indexes, eligible pairs via the rarest document; applies sql/migrations/0030_scale.sql

Revision ID: 0030
Revises: 0020
"""

from carepg.migrations import apply

revision = "0030"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply("0030_scale.sql")


def downgrade() -> None:
    apply("0030_scale.down.sql")
