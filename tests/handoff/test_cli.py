"""``flask handoff ...`` for operators."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_handoff.testing import wait_for_job

from . import sample
from .conftest import flask_command

# The commands read and change the store: the same whichever backend runs the jobs.
pytestmark = pytest.mark.runs_on(backend="thread")


def test_jobs_and_show(app: Flask) -> None:
    with app.app_context():
        job = sample.process_order.submit(4, identity="alice")
    wait_for_job(app, job.id)
    runner = app.test_cli_runner()

    listing = runner.invoke(args=["handoff", "jobs", "--identity", "alice"])
    shown = runner.invoke(args=["handoff", "show", job.id])

    assert job.id in listing.output
    assert "succeeded" in listing.output
    detail = json.loads(shown.output)
    assert detail["kwargs"] == {}
    assert detail["args"] == [4]
    assert detail["result"] == {"order_id": 4, "user": "alice"}


def test_retry_a_failed_job(app: Flask) -> None:
    with app.app_context():
        job = sample.flaky.submit("cli", 3, identity="alice")
    assert wait_for_job(app, job.id).state == "failed"

    result = app.test_cli_runner().invoke(args=["handoff", "retry", job.id])

    assert result.exit_code == 0, result.output
    retried = wait_for_job(app, job.id, state="succeeded")
    assert retried.result == 4


def test_retry_refuses_a_job_that_did_not_fail(app: Flask) -> None:
    with app.app_context():
        job = sample.process_order.submit(1, identity="alice")
    wait_for_job(app, job.id)

    result = app.test_cli_runner().invoke(args=["handoff", "retry", job.id])

    assert result.exit_code != 0
    assert "only failed or cancelled" in result.output


def test_cancel_and_purge(app: Flask) -> None:
    with app.app_context():
        job = sample.whoami.submit(identity="alice", delay=60)
    runner = app.test_cli_runner()

    cancelled = runner.invoke(args=["handoff", "cancel", job.id])
    purged_young = runner.invoke(args=["handoff", "purge", "--older-than", "1"])
    purged_all = runner.invoke(args=["handoff", "purge", "--older-than", "0"])

    assert "cancelled" in cancelled.output
    assert "purged 0 job(s)" in purged_young.output
    assert "purged 1 job(s)" in purged_all.output
    assert runner.invoke(args=["handoff", "show", job.id]).exit_code != 0


def test_unknown_job_is_a_clear_error(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["handoff", "show", "missing"])

    assert result.exit_code != 0
    assert "No job with id 'missing'" in result.output


@pytest.mark.parametrize("backend_name", ["thread"])  # a thread pool it might have started
def test_a_one_off_flask_command_leaves_queued_jobs_to_the_workers(
    make_app: Any, database_url: str, tmp_path: Path
) -> None:
    web = make_app(HANDOFF_AUTOSTART=False)
    marker = tmp_path / "ran"
    with web.app_context():
        job = sample.sleep_then_mark.submit(0.1, str(marker), identity="alice")
    argv, env = flask_command(database_url, "jobs")

    done = subprocess.run(
        argv,
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert job.id in done.stdout
    assert not marker.exists()  # a pool started by the command would have run it
    assert web.extensions["handoff"].store.get(job.id).state == "queued"
