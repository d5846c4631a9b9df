"""page json: shifts.available_shifts_json(), the API's page built in SQL; applies sql/migrations/0060_page_json.sql

Revision ID: 0060
Revises: 0050
"""

from carepg.migrations import apply

revision = "0060"
down_revision = "0050"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply("0060_page_json.sql")


def downgrade() -> None:
    apply("0060_page_json.down.sql")
