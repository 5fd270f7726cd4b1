"""Alembic's entry point for phonetool's history.

Run two ways: from code at start and by ``scripts/serve`` (``phonetool.schema``, which
passes a connection), or by Flask-Migrate's ``flask --app phonetool db ...`` commands
(``db migrate`` writes the next script from the models). Only phonetool's tables are
compared: Flask-Handoff's job table, in the same database, has its own history.
"""

from __future__ import annotations

from typing import Any

from alembic import context

from phonetool.models import db

config = context.config
metadata = db.metadata


def _ours(name: str | None, kind: str, parent: Any) -> bool:
    return kind != "table" or name in metadata.tables


def _run(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_name=_ours,
        render_as_batch=True,  # SQLite alters a table by copying it
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    from flask import current_app

    with current_app.extensions["migrate"].db.engine.connect() as connection:
        _run(connection)
        connection.commit()
