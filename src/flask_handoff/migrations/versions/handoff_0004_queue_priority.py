"""A job's queue and priority.

Expand only: two columns with server defaults, so old code inserting rows without them
still works, and every job already queued is in the default queue at priority 0.

Revision ID: handoff_0004
Revises: handoff_0003
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "handoff_0004"
down_revision = "handoff_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("handoff_jobs") as batch:
        batch.add_column(
            sa.Column("queue", sa.String(100), nullable=False, server_default="default")
        )
        batch.add_column(sa.Column("priority", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("handoff_jobs") as batch:
        batch.drop_column("priority")
        batch.drop_column("queue")
