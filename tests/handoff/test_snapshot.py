"""What a job knows of its submitter, inside and outside a request."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, g

from flask_handoff import JobArgumentError, current_job
from flask_handoff.testing import wait_for_job

from . import sample
from .conftest import bearer


def test_job_sees_submitter_and_request_id_after_response(app: Flask, client: Any) -> None:
    response = client.post(
        "/whoami", headers={**bearer("alice"), "X-Request-Id": "req-42", "X-Tenant": "shop-1"}
    )
    job = wait_for_job(app, response.get_json()["job_id"])

    assert job.result == {
        "identity": "alice",
        "actor": "user",
        "context": {"tenant": "shop-1", "request_id": "req-42"},
    }
    assert job.request_id == "req-42"


def test_request_without_request_id_header_gets_a_generated_one(app: Flask, client: Any) -> None:
    job = wait_for_job(app, client.post("/whoami", headers=bearer("bob")).get_json()["job_id"])

    assert len(job.result["context"]["request_id"]) == 32


def test_anonymous_request_records_anonymous_actor(app: Flask, client: Any) -> None:
    job = wait_for_job(app, client.post("/whoami").get_json()["job_id"])

    assert job.result["identity"] is None
    assert job.result["actor"] == "anonymous"


def test_submit_outside_a_request_uses_the_system_actor(app: Flask) -> None:
    with app.app_context():
        job = sample.whoami.submit()

    result = wait_for_job(app, job.id).result
    assert result["identity"] == "system"
    assert result["actor"] == "system"


def test_submit_outside_a_request_with_explicit_identity(app: Flask) -> None:
    with app.app_context():
        job = sample.whoami.submit(identity="carol")

    assert wait_for_job(app, job.id).result["identity"] == "carol"


def test_job_submitted_from_a_job_inherits_the_parent_identity(app: Flask, client: Any) -> None:
    with app.test_request_context(headers={**bearer("alice"), "X-Request-Id": "r-1"}):
        parent = sample.spawn_child.submit()
    child_id = wait_for_job(app, parent.id).result
    child = wait_for_job(app, child_id)

    assert child.result["identity"] == "alice"
    assert child.result["context"]["request_id"] == "r-1"
    assert child.parent_id == parent.id


def test_snapshot_never_holds_the_request_body(app: Flask) -> None:
    body = "x" * 100_000
    with app.test_request_context(method="POST", data=body, headers=bearer("alice")):
        job = sample.whoami.submit()

    assert "xxxxxxxxxx" not in job.snapshot.to_json()
    assert len(job.snapshot.to_json()) < 1024


def test_oversized_capture_is_refused_with_the_key_named(make_app: Any) -> None:
    app = make_app(HANDOFF_SNAPSHOT_MAX_BYTES=512)
    with app.test_request_context(headers={"X-Tenant": "t" * 2000}):
        g.tenant = "t" * 2000
        with pytest.raises(JobArgumentError, match="'tenant'"):
            sample.whoami.submit()


def test_arguments_that_are_not_json_safe_are_refused_at_submit(app: Flask) -> None:
    with app.app_context(), pytest.raises(JobArgumentError, match="JSON-safe"):
        sample.process_order.submit(object())


def test_current_job_outside_a_job_explains_itself() -> None:
    with pytest.raises(RuntimeError, match="Working outside of a job"):
        _ = current_job.identity
