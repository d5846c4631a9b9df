"""safe install: carepg_owner, private schemas, closed privileges; applies sql/migrations/0040_safe_install.sql

Revision ID: 0040
Revises: 0030
"""

from carepg.migrations import apply

revision = "0040"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply("0040_safe_install.sql")


def downgrade() -> None:
    apply("0040_safe_install.down.sql")
