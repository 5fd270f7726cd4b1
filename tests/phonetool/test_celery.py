"""phonetool on Celery: an upload made to the web app is processed and mailed by a real
Celery worker process, with no change to the task code."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_handoff.testing import wait_for_job
from tests.conftest import free_port, redis_db, require_env

from .conftest import AppFactory, add_member
from .test_fair_share import forty_then_one
from .test_service import GOOD, upload, wait_for_trail

pytestmark = pytest.mark.slow


@pytest.fixture
def on_celery(
    make_app: AppFactory, smtp: Any, monkeypatch: pytest.MonkeyPatch, database_url: str | None
) -> Iterator[tuple[Flask, Any]]:
    import redis

    broker = redis_db(require_env("HANDOFF_TEST_REDIS_URL", "Redis"), 6)
    redis.Redis.from_url(broker).flushdb()
    port = free_port()
    inbox = smtp(port)
    settings = {
        "PHONETOOL_JOB_BACKEND": "celery",
        "REDIS_URL": broker,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(port),
        "PHONETOOL_PIPELINE_WORKERS": "1",
    }
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    app = make_app(HANDOFF_AUTOSTART=True)  # the web side: submits and publishes
    env = {**os.environ, "PHONETOOL_INSTANCE": app.instance_path}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "phonetool",
            "handoff",
            "worker",
            "--queues",
            "default,mail",
            "--pool",
            "threads",
            "--concurrency",
            "2",
            "--loglevel",
            "WARNING",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield app, inbox
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)


def test_an_upload_is_processed_and_mailed_by_a_celery_worker(
    on_celery: tuple[Flask, Any],
) -> None:
    app, inbox = on_celery
    client = app.test_client()
    member = add_member(app, "alice@example.com")

    response = upload(client, member, receiver_email="shop@example.com")
    job = wait_for_job(app, response.get_json()["job_id"], timeout=60)

    assert job.state == "succeeded", job.error_message
    assert (job.worker_id or "").startswith("celery-")
    assert job.result["summary"]["valid"] == 2
    # The job sends the mail, then logs it: wait for the entry, and the mail is there.
    entries = wait_for_trail(client, member, "mail_sent", timeout=60)
    assert inbox.messages[0]["To"] == "shop@example.com"
    kinds = [e["operation_type"] for e in entries]
    assert kinds[:3] == ["upload_received", "process_started", "process_finished"]
    assert {e["user_id"] for e in entries} == {str(member.id)}


def test_a_worker_that_cannot_see_the_upload_names_the_setting(
    on_celery: tuple[Flask, Any], tmp_path: Path
) -> None:
    app, _ = on_celery
    client = app.test_client()
    member = add_member(app, "alice@example.com")
    backend = app.extensions["handoff"].backend
    original = backend.dispatch

    def lose_the_file(job_id: str, delay: float | None, *args: Any, **kwargs: Any) -> None:
        for path in (Path(app.config["HANDOFF_SPOOL_DIR"]) / job_id).glob("*"):
            path.unlink()  # as on a machine without the shared folder
        original(job_id, delay, *args, **kwargs)

    backend.dispatch = lose_the_file
    job_id = upload(client, member, data=GOOD).get_json()["job_id"]
    job = wait_for_job(app, job_id, timeout=60)

    assert job.state == "failed"
    assert "HANDOFF_SPOOL_DIR" in (job.error_message or "")


@pytest.fixture
def forty_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Room for one member's forty uploads (read by the web app and the worker)."""
    monkeypatch.setenv("PHONETOOL_MAX_ACTIVE_PER_MEMBER", "50")


def test_on_celery_a_small_upload_waits_only_for_another_members_jobs_in_flight(
    forty_at_once: None, on_celery: tuple[Flask, Any]
) -> None:
    app, _ = on_celery
    in_flight = app.config["HANDOFF_CELERY_IN_FLIGHT_PER_KEY"]

    begun, before_mine = forty_then_one(app, timeout=180)
    # In the broker's order bob's would start after all forty; released fairly, only
    # those of alice's begun or handed to the broker (her cap) when his came go first.
    assert before_mine <= begun + in_flight + 1, (before_mine, begun)
    assert begun + in_flight < 30  # most of alice's were still waiting: the test says something
