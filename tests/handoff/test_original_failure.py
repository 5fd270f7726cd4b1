"""The report that started the project, as tests: background work that reads the request."""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask, jsonify

from flask_handoff import JobContextError
from flask_handoff.testing import wait_for_job

from . import sample
from .conftest import bearer


def test_plain_thread_that_reads_authorization_header_raises_runtime_error(app: Flask) -> None:
    errors: list[BaseException] = []

    def background(order_id: int) -> None:
        try:
            sample.legacy_record_operation(f"processed order {order_id}")
        except BaseException as exc:
            errors.append(exc)

    @app.post("/plain-thread/<int:order_id>")
    def plain(order_id: int) -> Any:
        worker = threading.Thread(target=background, args=(order_id,))
        worker.start()
        worker.join()
        return jsonify(ok=True), 202

    response = app.test_client().post("/plain-thread/7", headers=bearer("alice"))

    assert response.status_code == 202
    assert len(errors) == 1
    assert isinstance(errors[0], RuntimeError)
    assert "Working outside of request context" in str(errors[0])
    assert sample.OPLOG == []


def test_handoff_attributes_the_background_operation_to_the_submitter(
    app: Flask, client: Any
) -> None:
    response = client.post("/orders/7", headers=bearer("alice"))
    job = wait_for_job(app, response.get_json()["job_id"])

    assert job.state == "succeeded", job.error_message
    assert job.result == {"order_id": 7, "user": "alice"}
    assert sample.OPLOG == [("alice", "submitted order 7"), ("alice", "processed order 7")]


def test_task_reading_request_fails_with_job_context_error_naming_task_and_fix(
    app: Flask, client: Any
) -> None:
    response = client.post("/legacy/7", headers=bearer("alice"))
    job = wait_for_job(app, response.get_json()["job_id"])

    assert job.state == "failed"
    assert job.error_type == "JobContextError"
    assert "legacy_process_order" in job.error_message
    assert "flask.request" in job.error_message
    assert "sample.py:" in job.error_message  # the user's line that touched it
    assert "current_job.identity" in job.error_message  # the fix
    assert job.attempts == 1  # a context error is not retried: it would fail the same way


def test_task_reading_session_is_named_in_the_error(app: Flask) -> None:
    with app.app_context():
        job = sample.touch_session.submit(identity="alice")
    job = wait_for_job(app, job.id)

    assert job.error_type == "JobContextError"
    assert "flask.session" in job.error_message


def test_pool_keeps_running_after_a_context_error(app: Flask, client: Any) -> None:
    failed = client.post("/legacy/1", headers=bearer("alice")).get_json()["job_id"]
    ok = client.post("/orders/2", headers=bearer("bob")).get_json()["job_id"]

    assert wait_for_job(app, failed).state == "failed"
    assert wait_for_job(app, ok).state == "succeeded"


def test_job_context_error_is_a_handoff_error_with_its_parts() -> None:
    err = JobContextError("tasks.export", "request", "views.py:12")

    assert err.task_name == "tasks.export"
    assert err.touched == "request"
    assert str(err).startswith("Task 'tasks.export' touched flask.request at views.py:12")


def test_replayed_request_context_lets_legacy_code_read_headers(app: Flask, client: Any) -> None:
    response = client.post("/replay/9", headers=bearer("bob"))
    job = wait_for_job(app, response.get_json()["job_id"])

    assert job.state == "succeeded", job.error_message
    assert job.result == {"user": "bob", "path": "/replay/9"}
    assert sample.OPLOG == [("bob", "processed order 9")]


def test_replayed_authorization_header_is_not_stored_in_plaintext(app: Flask, client: Any) -> None:
    response = client.post("/replay/9", headers=bearer("bob"))
    job_id = response.get_json()["job_id"]
    wait_for_job(app, job_id)
    with app.extensions["handoff"].store.engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT * FROM handoff_jobs").all()

    assert raw
    assert "token-bob" not in repr(raw)
