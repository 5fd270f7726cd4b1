"""Alembic's entry point for Flask-Handoff's history, run by ``flask_handoff.migrate``.

The connection comes from the caller (``Config.attributes``); only Flask-Handoff's tables
are compared, so the host application's tables in the same database are left alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alembic import context

if TYPE_CHECKING:
    from flask_handoff.migrate import Migrations

config = context.config
migrations: Migrations = config.attributes["migrations"]


context.configure(
    connection=config.attributes["connection"],
    target_metadata=migrations.metadata,
    version_table=migrations.version_table,
    include_name=migrations.owns,
    render_as_batch=True,  # SQLite alters a table by copying it
)
with context.begin_transaction():
    context.run_migrations()
