"""acting identity: the worker functions refuse another worker's when an identity is set; applies
sql/migrations/0110_acting_identity.sql

Revision ID: 0110
Revises: 0080
"""

from carepg.migrations import apply

revision = "0110"
down_revision = "0080"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply("0110_acting_identity.sql")


def downgrade() -> None:
    apply("0110_acting_identity.down.sql")
