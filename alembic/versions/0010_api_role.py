"""api role: applies sql/migrations/0010_api_role.sql

Revision ID: 0010
Revises: 0005
"""

from carepg.migrations import apply

revision = "0010"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply("0010_api_role.sql")


def downgrade() -> None:
    apply("0010_api_role.down.sql")
