"""window scan: a window's start bounds the index scan; applies sql/migrations/0070_window_scan.sql

Revision ID: 0070
Revises: 0060
"""

from carepg.migrations import apply

revision = "0070"
down_revision = "0060"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply("0070_window_scan.sql")


def downgrade() -> None:
    apply("0070_window_scan.down.sql")
