"""Secrets reach the task and nowhere else: not the database, the logs or the API."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_handoff import SecretsError
from flask_handoff.secrets import SecretBox
from flask_handoff.testing import wait_for_job

from . import sample
from .conftest import bearer

# Sealed at submit and opened by the runner, which both backends share.
pytestmark = pytest.mark.runs_on(backend="thread")

SECRET = "SESSIONID=s3cr3t-upstream-cookie-value"


def _submit_with_secret(app: Flask) -> str:
    with app.test_request_context(headers=bearer("alice")):
        return sample.use_secret.submit(secrets={"cookie": SECRET}).id


def test_the_task_reads_the_secret(app: Flask) -> None:
    job = wait_for_job(app, _submit_with_secret(app))

    assert job.state == "succeeded", job.error_message
    assert job.result == len(SECRET)


def test_secret_is_not_in_the_database_in_plaintext(
    app: Flask, tmp_path: Path, database_url: str
) -> None:
    job_id = _submit_with_secret(app)
    wait_for_job(app, job_id)
    with app.extensions["handoff"].store.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT * FROM handoff_jobs").all()

    assert rows
    assert "s3cr3t" not in repr(rows)
    if database_url.startswith("sqlite"):
        for f in tmp_path.glob("jobs.sqlite3*"):  # the database file and its WAL
            assert b"s3cr3t" not in f.read_bytes()


def test_secret_is_not_in_logs_or_api_output(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)  # SQL, parameters, rows
    try:
        job_id = _submit_with_secret(app)
        wait_for_job(app, job_id)
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    api = app.test_client().get(f"/jobs/{job_id}", headers=bearer("alice"))
    cli = app.test_cli_runner().invoke(args=["handoff", "show", job_id])

    assert api.status_code == 200
    assert "SELECT handoff_jobs.secrets" in caplog.text  # the SQL log was really captured
    assert "s3cr3t" not in caplog.text
    assert "s3cr3t" not in api.get_data(as_text=True)
    assert cli.exit_code == 0
    assert "s3cr3t" not in cli.output


def test_a_worker_with_another_secret_key_cannot_read_secrets() -> None:
    token = SecretBox("one key").seal({"cookie": SECRET})

    assert SecretBox("one key").open(token) == {"cookie": SECRET}
    with pytest.raises(SecretsError, match="SECRET_KEY"):
        SecretBox("another key").open(token)


def test_secrets_without_secret_key_are_refused_at_submit(make_app: Any) -> None:
    app = make_app(SECRET_KEY=None)
    with app.app_context(), pytest.raises(SecretsError, match="SECRET_KEY"):
        sample.use_secret.submit(secrets={"cookie": SECRET})
