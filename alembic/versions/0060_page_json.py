"""page json: shifts.available_shifts_json(), the API's page built in SQL

Revision ID: 0060
Revises: 0050
"""

from carepg.migrations import apply

revision = "0060"
down_revision = "0050"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply(__file__)  # sql/migrations/<this file's name>.sql


def downgrade() -> None:
    apply(__file__, down=True)  # sql/migrations/<this file's name>.down.sql
