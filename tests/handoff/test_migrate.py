"""Flask-Handoff's migrations: the models and the scripts agree, a database made before
migrations is kept, and the version lives apart from the application's."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import inspect

from flask_handoff.migrate import VERSION_TABLE, handoff_migrations
from flask_handoff.testing import wait_for_job

from . import sample
from .conftest import AppFactory


def test_the_migrations_build_exactly_the_table_the_code_uses(database_url: str) -> None:
    from flask_handoff.store import make_engine

    engine = make_engine(database_url)
    handoff_migrations.upgrade(engine)  # scripts only, from an empty database

    differences = handoff_migrations.differences(engine)
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
    engine.dispose()

    assert differences == []  # a model change without its migration fails here
    assert tables == {"handoff_jobs", VERSION_TABLE}  # the app's alembic_version untouched


def test_a_database_made_before_migrations_is_stamped_and_keeps_its_jobs(
    make_app: AppFactory,
) -> None:
    old = make_app(HANDOFF_AUTOSTART=False)
    engine = old.extensions["handoff"].store.engine
    with old.app_context():
        queued = sample.whoami.submit(identity="alice").id
    with engine.begin() as conn:  # as release 0.1 left it: the table, no history
        conn.exec_driver_sql(f"DROP TABLE {VERSION_TABLE}")
    assert handoff_migrations.current(engine) is None

    new = make_app()  # starts: brings the table up to date, then runs the queue

    assert handoff_migrations.current(engine) == handoff_migrations.head()
    job = wait_for_job(new, queued)
    assert job.state == "succeeded"
    assert job.result["identity"] == "alice"


def test_the_cli_shows_and_moves_the_schema(app: Flask) -> None:
    runner = app.test_cli_runner()
    head = handoff_migrations.head()

    shown: Any = runner.invoke(args=["handoff", "db", "current"])
    assert f"schema at {head} (head: {head})" in shown.output
    again = runner.invoke(args=["handoff", "db", "upgrade"])
    assert again.exit_code == 0
    assert f"schema at {head}" in again.output
