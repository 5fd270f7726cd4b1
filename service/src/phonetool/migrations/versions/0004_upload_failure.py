"""An upload keeps why its processing failed as a text and its values, so the reason can
be shown in each reader's language.

Expand only: a nullable column that older code neither reads nor writes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("uploads") as table:
        table.add_column(sa.Column("failure", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("uploads") as table:
        table.drop_column("failure")
