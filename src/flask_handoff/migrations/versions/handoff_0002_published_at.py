"""When a queued job's message was handed to the broker (the Celery backend's outbox).

Expand only: a nullable column the thread backend neither reads nor writes, so an old
worker and a new web process can share the table during the upgrade.

Revision ID: handoff_0002
Revises: handoff_0001
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "handoff_0002"
down_revision = "handoff_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("handoff_jobs") as table:
        table.add_column(sa.Column("published_at", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("handoff_jobs") as table:
        table.drop_column("published_at")
