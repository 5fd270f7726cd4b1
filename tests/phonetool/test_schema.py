"""Upgrades keep every job and every log entry: the last release's database, filled, is
upgraded to this one's on SQLite and PostgreSQL, and everything in it still works."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, inspect, text
from werkzeug.security import generate_password_hash

from flask_handoff.migrate import handoff_migrations
from flask_handoff.testing import wait_for_job
from phonetool.extensions import handoff
from phonetool.jobs import process_upload
from phonetool.models import db, token_digest
from phonetool.schema import HEAD, phonetool_migrations

from .conftest import AppFactory, add_member
from .test_service import GOOD

LAST_RELEASE = "0001"  # phonetool's schema in release 0.1
LAST_RELEASE_JOBS = "handoff_0001"  # the job table's
TOKEN = "pt_" + "k" * 43


def _engines(app: Flask) -> tuple[Engine, Engine]:
    with app.app_context():
        return db.engine, app.extensions["handoff"].store.engine


def _fill_last_release(app: Flask, spool: Path) -> dict[str, str]:
    """Members, a token, log entries, and uploads whose jobs are queued, running (on a
    worker that died) and finished, written as release 0.1's code wrote them."""
    engine, _ = _engines(app)
    now = "2026-11-01 09:00:00"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO members (id, email, name, password_hash, created_at)"
                " VALUES (1, 'alice@example.com', 'alice', :hash, :now)"
            ),
            {"hash": generate_password_hash("correct horse"), "now": now},
        )
        conn.execute(
            text(
                "INSERT INTO api_tokens (member_id, digest, prefix, created_at)"
                " VALUES (1, :digest, :prefix, :now)"
            ),
            {"digest": token_digest(TOKEN), "prefix": TOKEN[:10], "now": now},
        )
    ids = {kind: uuid.uuid4().hex for kind in ("queued", "running", "finished")}
    with engine.begin() as conn:
        for kind, upload_id in ids.items():
            conn.execute(
                text(
                    "INSERT INTO uploads (id, member_id, original_name, size, options,"
                    " created_at, mail_attempts) VALUES (:id, 1, :name, :size, :options,"
                    " :now, 0)"
                ),
                {
                    "id": upload_id,
                    "name": f"{kind}.csv",
                    "size": len(GOOD),
                    "options": json.dumps({"nationwide": True, "provinces": []}),
                    "now": now,
                },
            )
            conn.execute(
                text(
                    "INSERT INTO member_operation_log (user_id, business_type, operation_type,"
                    " operation_content, operation_time, create_time, update_time, job_id,"
                    " actor_kind) VALUES ('1', 'upload', 'upload_received', :content, :now,"
                    " :now, :now, :job, 'user')"
                ),
                {"content": f"收到文件 {kind}.csv", "now": now, "job": upload_id},
            )
    store = app.extensions["handoff"].store
    with app.app_context():
        for kind, upload_id in ids.items():
            source = spool / f"{kind}.csv"
            source.write_bytes(GOOD)
            process_upload.submit(
                files={"upload": source}, upload_id=upload_id, job_id=upload_id, identity=1
            )
    store.claim(ids["running"], "worker-that-died", lease_seconds=-1)
    store.claim(ids["finished"], "worker-0.1", lease_seconds=60)
    store.succeed(ids["finished"], "worker-0.1", 1, json.dumps({"upload_id": ids["finished"]}))
    return ids


def _last_release_app(make_app: AppFactory, tmp_path: Path) -> Flask:
    app = make_app(
        instance="upgraded",
        PHONETOOL_AUTO_MIGRATE=False,
        HANDOFF_CREATE_TABLES=False,
        HANDOFF_AUTOSTART=False,
    )
    engine, jobs_engine = _engines(app)
    phonetool_migrations.upgrade(engine, LAST_RELEASE)
    # The job table at head while jobs are submitted with this release's code, then taken
    # back, rows and all, to the last release's shape (see the test).
    handoff_migrations.upgrade(jobs_engine)
    return app


def test_the_last_releases_database_upgrades_and_loses_nothing(
    make_app: AppFactory, tmp_path: Path
) -> None:
    old = _last_release_app(make_app, tmp_path)
    ids = _fill_last_release(old, tmp_path)
    handoff.shutdown(old)
    handoff_migrations.downgrade(_engines(old)[1], LAST_RELEASE_JOBS)

    new = make_app(instance="upgraded")  # starts: upgrades, then runs the queue
    engine, _ = _engines(new)
    assert phonetool_migrations.current(engine) == phonetool_migrations.head() != LAST_RELEASE
    for kind in ("queued", "running"):
        assert wait_for_job(new, ids[kind], timeout=60).state == "succeeded"
    client = new.test_client()
    headers = {"Authorization": f"Bearer {TOKEN}"}  # the old token still works
    jobs = {j["job_id"]: j for j in client.get("/api/jobs", headers=headers).get_json()["jobs"]}
    assert {jobs[i]["state"] for i in ids.values()} == {"succeeded"}
    assert jobs[ids["queued"]]["summary"]["valid"] == 2
    entries = client.get("/api/operation-logs?per_page=200", headers=headers).get_json()["entries"]
    old_entries = [e for e in entries if e["operation_time"].startswith("2026-11-01")]
    assert sorted(e["operation_content"] for e in old_entries) == [
        "收到文件 finished.csv",
        "收到文件 queued.csv",
        "收到文件 running.csv",
    ]


def test_the_stated_head_is_the_newest_script() -> None:
    # A new migration moves HEAD too: a database at the old head would otherwise be
    # taken as current at start and never upgraded.
    assert phonetool_migrations.known_head == HEAD == phonetool_migrations.head()


def test_the_models_and_the_migrations_agree(make_app: AppFactory) -> None:
    app = make_app(PHONETOOL_AUTO_MIGRATE=False, HANDOFF_AUTOSTART=False)
    engine, _ = _engines(app)

    phonetool_migrations.upgrade(engine)  # the scripts alone, from an empty database

    assert phonetool_migrations.differences(engine) == []
    assert "handoff_jobs" in inspect(engine).get_table_names()  # neither saw the other


def test_downgrade_one_step_and_upgrade_again_keeps_a_populated_database(
    make_app: AppFactory, tmp_path: Path
) -> None:
    app = make_app(instance="both-ways", HANDOFF_AUTOSTART=False)
    engine, _ = _engines(app)
    client = app.test_client()
    member = add_member(app, "alice@example.com")
    job_id = client.post(
        "/api/uploads", data={"file": (io.BytesIO(GOOD), "a.csv")}, headers=member.headers
    ).get_json()["job_id"]
    head = phonetool_migrations.head()

    phonetool_migrations.downgrade(engine, "-1")
    # The newest step (0005) added the wrong-password counts; one step down, they are gone.
    assert "sign_in_failures" not in inspect(engine).get_table_names()
    phonetool_migrations.upgrade(engine)

    assert phonetool_migrations.current(engine) == head
    status = client.get(f"/api/jobs/{job_id}", headers=member.headers)
    assert status.status_code == 200
    assert status.get_json()["file"]["name"] == "a.csv"


def test_the_schema_command_reports_both_histories(app: Flask) -> None:
    result: Any = app.test_cli_runner().invoke(args=["schema", "current"])
    head = phonetool_migrations.head()
    assert f"phonetool schema {head} (head {head})" in result.output
    assert "job table handoff_0005 (head handoff_0005)" in result.output


def _own_instance(folder: Path) -> dict[str, str]:
    """The environment of a service process with its instance, and the instance's own
    SQLite database, in ``folder``."""
    env = {**os.environ, "PHONETOOL_INSTANCE": str(folder)}
    env.pop("DATABASE_URL", None)
    return env


def test_the_developers_migration_commands_are_flask_migrates(tmp_path: Path) -> None:
    # A process of its own, as a developer runs it: Alembic prints to the stdout it saw
    # when first imported, which a test's CLI runner does not capture.
    env = _own_instance(tmp_path)
    flask = Path(sys.executable).parent / "flask"
    done = subprocess.run(
        [str(flask), "--app", "phonetool", "db", "current"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert f"{phonetool_migrations.head()} (head)" in done.stdout


#: Starts the service and says whether a migration tool was loaded to do it.
LOADS = """
import sys
from phonetool import create_app
create_app()
print(any(name in sys.modules for name in ("alembic", "flask_migrate")))
"""


def test_a_process_starting_on_a_current_database_loads_no_migration_tool(tmp_path: Path) -> None:
    """Alembic and Flask-Migrate were ~0.3 s of every web, worker and command process's
    start, all to learn that the database was already current."""
    env = _own_instance(tmp_path)

    def start() -> str:
        done = subprocess.run(
            [sys.executable, "-c", LOADS], env=env, capture_output=True, text=True, check=True
        )
        return done.stdout.strip().splitlines()[-1]

    assert start() == "True"  # a new database: built, and stamped by Alembic
    assert start() == "False"


#: Imports the service once, then forks four processes that call ``create_app`` at the
#: same moment (when the parent closes the pipe they wait on): the race is theirs alone,
#: and the import, a second of CPU, is paid once. Prints each one's exit code.
STARTER = """
import os, sys, traceback
from phonetool import create_app

go, ready = os.pipe()
children = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:
        os.close(ready)
        os.read(go, 1)
        try:
            create_app()
        except BaseException:
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(1)
        os._exit(0)
    children.append(pid)
os.close(ready)
print(*(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children))
"""


@pytest.mark.slow
def test_processes_starting_at_once_on_a_new_database_all_start(tmp_path: Path) -> None:
    """As gunicorn's workers do: each brings the schema to head and compiles the
    catalogs; one at a time, each seeing what the one before did."""
    for round_number in range(3):
        instance = tmp_path / f"instance-{round_number}"
        env = {**os.environ, "PHONETOOL_INSTANCE": str(instance), "HANDOFF_AUTOSTART": "0"}
        done = subprocess.run(
            [sys.executable, "-c", STARTER],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.split() == ["0", "0", "0", "0"], done.stderr[-3000:]
