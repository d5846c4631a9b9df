"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from carepg.migrations import apply

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade() -> None:
    apply("${up_revision}_<slug>.sql")  # write sql/migrations/<rev>_<slug>.sql first


def downgrade() -> None:
    apply("${up_revision}_<slug>.down.sql")
