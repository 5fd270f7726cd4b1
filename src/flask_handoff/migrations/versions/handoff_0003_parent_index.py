"""An index on the parent job: event streams read the jobs a job submitted by it.

Expand only: an index, which old code neither needs nor minds.

Revision ID: handoff_0003
Revises: handoff_0002
Create Date: 2026-12-06
"""

from alembic import op

revision = "handoff_0003"
down_revision = "handoff_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_handoff_jobs_parent_id", "handoff_jobs", ["parent_id"])


def downgrade() -> None:
    op.drop_index("ix_handoff_jobs_parent_id", table_name="handoff_jobs")
