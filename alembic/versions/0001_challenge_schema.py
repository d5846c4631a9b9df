"""challenge schema: applies sql/migrations/0001_challenge_schema.sql

Revision ID: 0001
Revises: None
"""

from carepg.migrations import apply

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply("0001_challenge_schema.sql")


def downgrade() -> None:
    apply("0001_challenge_schema.down.sql")
