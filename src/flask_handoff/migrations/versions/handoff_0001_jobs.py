"""The job table as Flask-Handoff 0.1 created it, before migrations existed.

A database made by that release's ``create_all`` is stamped at this revision, not
rebuilt. Revision ids carry the ``handoff_`` prefix so that they can stand in an
application's own history beside its revisions (see the README).

Revision ID: handoff_0001
Revises:
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "handoff_0001"
down_revision = None
branch_labels = ("flask_handoff",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handoff_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("task", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("identity", sa.String(length=200), nullable=True),
        sa.Column("actor", sa.String(length=16), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
        sa.Column("snapshot", sa.Text(), nullable=False),
        sa.Column("files", sa.Text(), nullable=True),
        sa.Column("secrets", sa.Text(), nullable=True),
        sa.Column("progress_done", sa.Integer(), nullable=False),
        sa.Column("progress_total", sa.Integer(), nullable=True),
        sa.Column("progress_message", sa.String(length=500), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error_type", sa.String(length=200), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("error_traceback", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("timeout", sa.Float(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("request_id", sa.String(length=200), nullable=True),
        sa.Column("parent_id", sa.String(length=32), nullable=True),
        sa.Column("worker_id", sa.String(length=100), nullable=True),
        sa.Column("run_after", sa.Float(), nullable=False),
        sa.Column("lease_until", sa.Float(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=True),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_handoff_jobs_identity", "handoff_jobs", ["identity"], unique=False)
    op.create_index(
        "ix_handoff_jobs_state_run_after", "handoff_jobs", ["state", "run_after"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_handoff_jobs_state_run_after", table_name="handoff_jobs")
    op.drop_index("ix_handoff_jobs_identity", table_name="handoff_jobs")
    op.drop_table("handoff_jobs")
