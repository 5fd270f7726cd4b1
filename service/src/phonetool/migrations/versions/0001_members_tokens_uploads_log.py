"""phonetool's tables as release 0.1 created them, before migrations existed.

A database made by that release's ``create_all`` is stamped at this revision, not
rebuilt.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "member_operation_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("business_type", sa.String(length=50), nullable=False),
        sa.Column("operation_type", sa.String(length=50), nullable=False),
        sa.Column("operation_content", sa.Text(), nullable=False),
        sa.Column("operation_params", sa.JSON(), nullable=True),
        sa.Column("operation_time", sa.DateTime(), nullable=False),
        sa.Column("create_time", sa.DateTime(), nullable=False),
        sa.Column("update_time", sa.DateTime(), nullable=False),
        sa.Column("request_id", sa.String(length=200), nullable=True),
        sa.Column("job_id", sa.String(length=32), nullable=True),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_member_operation_log_job_id", "member_operation_log", ["job_id"], unique=False
    )
    op.create_index(
        "ix_member_operation_log_user_id", "member_operation_log", ["user_id"], unique=False
    )
    op.create_table(
        "members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("digest"),
    )
    op.create_index("ix_api_tokens_member_id", "api_tokens", ["member_id"], unique=False)
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("original_name", sa.String(length=255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("receiver_email", sa.String(length=254), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("result_dir", sa.String(length=500), nullable=True),
        sa.Column("mail_state", sa.String(length=20), nullable=True),
        sa.Column("mail_error", sa.Text(), nullable=True),
        sa.Column("mail_attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_uploads_member_id", "uploads", ["member_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_uploads_member_id", table_name="uploads")
    op.drop_table("uploads")
    op.drop_index("ix_api_tokens_member_id", table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_table("members")
    op.drop_index("ix_member_operation_log_user_id", table_name="member_operation_log")
    op.drop_index("ix_member_operation_log_job_id", table_name="member_operation_log")
    op.drop_table("member_operation_log")
