"""Flask-Handoff's migrations: the models and the scripts agree, a database made before
migrations is kept, and the version lives apart from the application's."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import inspect

from flask_handoff.migrate import HEAD, VERSION_TABLE, handoff_migrations
from flask_handoff.store import make_engine
from flask_handoff.testing import wait_for_job

from . import sample
from .conftest import AppFactory

# The tables and their migrations: the same whichever backend runs the jobs.
pytestmark = pytest.mark.runs_on(backend="thread")


def test_the_migrations_build_exactly_the_table_the_code_uses(database_url: str) -> None:
    from flask_handoff.store import make_engine

    engine = make_engine(database_url)
    handoff_migrations.upgrade(engine)  # scripts only, from an empty database

    differences = handoff_migrations.differences(engine)
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
    engine.dispose()

    assert differences == []  # a model change without its migration fails here
    assert tables == {"handoff_jobs", "handoff_schedules", VERSION_TABLE}  # not alembic_version


def test_the_stated_head_is_the_newest_script() -> None:
    # A new migration moves HEAD too: a database at the old head would otherwise be
    # taken as current at start and never upgraded.
    assert handoff_migrations.known_head == HEAD == handoff_migrations.head()


_START = """
import sys
from flask import Flask
from flask_handoff import Handoff
app = Flask("start")
app.config.update(HANDOFF_DATABASE_URL=sys.argv[1], HANDOFF_AUTOSTART=False)
Handoff(app)
print("alembic" in sys.modules)
"""


def test_a_process_starting_on_a_current_database_does_not_load_alembic(tmp_path: Path) -> None:
    """Alembic's import and its migration contexts were ~0.3 s of every process's start
    (a web process, a worker, a Celery publisher), all to learn that nothing was to do."""
    url = f"sqlite:///{tmp_path}/jobs.sqlite3"

    def start() -> str:
        done = subprocess.run(
            [sys.executable, "-c", _START, url], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    assert start() == "True"  # a new database: created and stamped by Alembic
    assert start() == "False"  # at head: nothing to do, and nothing loaded to learn it


def test_a_database_made_before_migrations_is_stamped_and_keeps_its_jobs(
    make_app: AppFactory,
) -> None:
    old = make_app(HANDOFF_AUTOSTART=False)
    engine = old.extensions["handoff"].store.engine
    with old.app_context():
        queued = sample.whoami.submit(identity="alice").id
    handoff_migrations.downgrade(engine, "handoff_0001")  # as release 0.1 left it:
    with engine.begin() as conn:  # its table, and no history
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


def test_an_app_can_run_the_job_tables_migrations_in_its_own_flask_migrate_history(
    tmp_path: Path,
) -> None:
    """What the README shows, step by step: one history, two branches."""
    from flask_migrate import Migrate
    from flask_sqlalchemy import SQLAlchemy

    from flask_handoff import Handoff
    from flask_handoff.migrate import VERSIONS

    db = SQLAlchemy()

    class Note(db.Model):  # type: ignore[name-defined,misc]
        id = db.Column(db.Integer, primary_key=True)

    app = Flask(__name__)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/app.sqlite3",
        HANDOFF_CREATE_TABLES=False,
        HANDOFF_AUTOSTART=False,
        HANDOFF_URL_PREFIX=None,
    )
    db.init_app(app)
    migrate = Migrate(
        app,
        db,
        directory=str(tmp_path / "migrations"),
        include_name=lambda name, kind, parent: name != "handoff_jobs",
    )

    @migrate.configure
    def with_handoff(config: Any) -> Any:
        here = config.get_main_option("script_location")
        config.set_main_option("path_separator", "os")  # Alembic 1.16 and later
        config.set_main_option("version_path_separator", "os")  # before 1.16
        config.set_main_option("version_locations", f"{here}/versions{os.pathsep}{VERSIONS}")
        return config

    Handoff(app)
    ours = sorted(os.listdir(VERSIONS))
    runner = app.test_cli_runner()
    versions = str(tmp_path / "migrations" / "versions")

    first = ["--head", "base", "--branch-label", "app", "--version-path"]
    assert runner.invoke(args=["db", "init"]).exit_code == 0
    env = tmp_path / "migrations" / "env.py"  # as generated, but leave this process's logging be
    env.write_text(env.read_text().replace("fileConfig(config.config_file_name)", ""))
    for args in (
        ["db", "upgrade", "heads"],  # the job table's branch
        ["db", "migrate", "-m", "notes", *first, versions],  # the app's first revision
        ["db", "upgrade", "heads"],
    ):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, (args, result.output)
    later = runner.invoke(args=["db", "migrate", "-m", "nothing", "--head", "app@head"])

    engine = app.extensions["handoff"].store.engine
    assert {"handoff_jobs", "note", "alembic_version"} <= set(inspect(engine).get_table_names())
    assert VERSION_TABLE not in inspect(engine).get_table_names()
    with engine.connect() as conn:
        versions_applied = set(
            conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars()
        )
    assert handoff_migrations.head() in versions_applied
    assert len(versions_applied) == 2  # the app's branch and the job table's
    assert later.exit_code == 0
    (nothing,) = Path(versions).glob("*_nothing.py")
    assert "op." not in nothing.read_text()  # neither table seen as added or dropped
    assert sorted(os.listdir(VERSIONS)) == ours  # nothing written into the package


def test_downgrade_one_step_and_upgrade_again_keeps_the_queue(make_app: AppFactory) -> None:
    app = make_app(HANDOFF_AUTOSTART=False)
    engine = app.extensions["handoff"].store.engine
    with app.app_context():
        queued = sample.whoami.submit(identity="bob").id
    head = handoff_migrations.head()

    handoff_migrations.downgrade(engine, "-1")
    assert handoff_migrations.current(engine) != head
    handoff_migrations.upgrade(engine)

    assert handoff_migrations.current(engine) == head
    runner = make_app()
    assert wait_for_job(runner, queued).result["identity"] == "bob"


def _start_at_once(url: str, barrier: threading.Barrier, errors: list[BaseException]) -> None:
    engine = make_engine(url)  # a process of its own would have its own engine
    barrier.wait()
    try:
        handoff_migrations.ensure_current(engine)
    except BaseException as exc:
        errors.append(exc)
    finally:
        engine.dispose()


def test_processes_migrating_at_once_each_see_what_the_one_before_committed(
    tmp_path: Path,
) -> None:
    """Four starts at once on a new SQLite database, twenty times: each brings it to head
    without running a migration twice ("table already exists")."""
    for round_number in range(20):
        url = f"sqlite:///{tmp_path}/jobs-{round_number}.sqlite3"
        errors: list[BaseException] = []
        barrier = threading.Barrier(4)
        starts = [
            threading.Thread(target=_start_at_once, args=(url, barrier, errors)) for _ in range(4)
        ]
        for thread in starts:
            thread.start()
        for thread in starts:
            thread.join()

        assert errors == []
        assert handoff_migrations.current(make_engine(url)) == handoff_migrations.head()
