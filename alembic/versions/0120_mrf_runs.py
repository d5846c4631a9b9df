"""mrf runs: the runs listing and the run lock as SQL functions; applies sql/migrations/0120_mrf_runs.sql

Revision ID: 0120
Revises: 0080
"""

from carepg.migrations import apply

revision = "0120"
down_revision = "0080"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply("0120_mrf_runs.sql")


def downgrade() -> None:
    apply("0120_mrf_runs.down.sql")
