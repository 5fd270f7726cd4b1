"""Periodic schedules: the last due time each was run for.

Expand only: a new table, which old code never reads.

Revision ID: handoff_0005
Revises: handoff_0004
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "handoff_0005"
down_revision = "handoff_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handoff_schedules",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("last_due", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("handoff_schedules")
