"""phonetool's tables and their migrations.

The history lives in ``migrations/`` (Alembic, in phonetool's ``alembic_version``; the job
table has its own, see ``flask_handoff.migrate``). It is run from code: at start, and by
``flask --app phonetool schema upgrade``, which ``scripts/serve`` runs before the server,
so an upgrade is: stop, pull, ``scripts/serve``. Flask-Migrate gives developers the usual
``flask --app phonetool db migrate -m "..."`` to write the next script from the models.

Every change comes with its migration, written for SQLite (batch mode) and PostgreSQL, and
adds before it removes: during a rolling upgrade an old worker and a new web process share
the database, so a column the old code writes stays until a later release drops it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from flask.cli import AppGroup, ScriptInfo

from flask_handoff.migrate import Migrations, handoff_migrations

from .models import db

if TYPE_CHECKING:
    from flask import Flask
    from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"

#: The newest script in migrations/versions: a new migration moves it (a test says so).
HEAD = "0005"
phonetool_migrations = Migrations(
    "phonetool:migrations", db.metadata, VERSION_TABLE, "0001", known_head=HEAD
)
schema_cli = AppGroup("schema", help="phonetool's tables and the job table: migrations.")


def init_app(app: Flask) -> None:
    app.cli.add_command(schema_cli)
    app.cli.add_command(developer_migrations)
    if app.config["PHONETOOL_AUTO_MIGRATE"]:
        with app.app_context():
            phonetool_migrations.ensure_current(db.engine)


def drop_all(engine: Engine) -> None:
    """Drop phonetool's tables and their history (tests)."""
    db.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {VERSION_TABLE}")


@click.command(
    "db",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,  # --help goes to Flask-Migrate's own
)
@click.pass_context
def developer_migrations(ctx: click.Context) -> None:
    """Flask-Migrate's commands, for developers (db migrate -m "...", db --help)."""
    # Loaded when asked for: Flask-Migrate imports Alembic, ~0.25 s that every web and
    # worker process paid at start for commands only a developer runs.
    from flask_migrate import Migrate
    from flask_migrate.cli import db as commands

    Migrate(ctx.ensure_object(ScriptInfo).load_app(), db, directory=str(MIGRATIONS))
    commands.main(ctx.args, prog_name=ctx.command_path, obj=ctx.obj)


@schema_cli.command("upgrade")
def upgrade() -> None:
    """Bring every table to this release: created, stamped (made before migrations) or
    upgraded. Safe to run again; ``scripts/serve`` runs it before the server starts."""
    from flask import current_app

    phonetool_migrations.ensure_current(db.engine)
    jobs_engine = current_app.extensions["handoff"].store.engine
    handoff_migrations.ensure_current(jobs_engine)
    click.echo(
        f"phonetool schema {phonetool_migrations.current(db.engine)},"
        f" job table {handoff_migrations.current(jobs_engine)}"
    )


@schema_cli.command("current")
def current() -> None:
    """Print both schema revisions and the newest this release knows."""
    from flask import current_app

    jobs_engine = current_app.extensions["handoff"].store.engine
    click.echo(
        f"phonetool schema {phonetool_migrations.current(db.engine)}"
        f" (head {phonetool_migrations.head()}),"
        f" job table {handoff_migrations.current(jobs_engine)} (head {handoff_migrations.head()})"
    )


@schema_cli.command("downgrade")
@click.argument("revision", default="-1")
def downgrade(revision: str) -> None:
    """Take phonetool's tables back to REVISION (default: one step)."""
    phonetool_migrations.downgrade(db.engine, revision)
    click.echo(f"phonetool schema {phonetool_migrations.current(db.engine)}")
