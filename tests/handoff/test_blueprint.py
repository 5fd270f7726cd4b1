"""The job status API: own jobs only, JSON errors, live events."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask

from flask_handoff.testing import wait_for_job

from . import sample
from .conftest import bearer

# The HTTP API reads the store: the same whichever backend runs the jobs.
pytestmark = pytest.mark.runs_on(backend="thread")


def _job_of(app: Flask, user: str, task: Any = None, *args: Any, **kwargs: Any) -> str:
    with app.test_request_context(headers=bearer(user)):
        return str((task or sample.process_order).submit(*(args or (1,)), **kwargs).id)


def test_a_user_lists_only_their_own_jobs(app: Flask, client: Any) -> None:
    mine = {_job_of(app, "alice") for _ in range(3)}
    _job_of(app, "bob")

    body = client.get("/jobs/", headers=bearer("alice")).get_json()

    assert {j["id"] for j in body["jobs"]} == mine
    assert all(j["identity"] == "alice" for j in body["jobs"])


def test_listing_filters_by_state_and_pages(app: Flask, client: Any) -> None:
    ids = [_job_of(app, "alice") for _ in range(3)]
    for i in ids:
        wait_for_job(app, i)

    page = client.get("/jobs/?state=succeeded&limit=2&offset=1", headers=bearer("alice"))
    bad = client.get("/jobs/?state=exploded", headers=bearer("alice"))
    bad_limit = client.get("/jobs/?limit=abc", headers=bearer("alice"))

    assert len(page.get_json()["jobs"]) == 2
    assert bad.status_code == 400
    assert bad.get_json()["error"] == "bad_state"
    assert bad_limit.status_code == 400
    assert "limit" in bad_limit.get_json()["message"]


def test_another_users_job_answers_404_everywhere(app: Flask, client: Any) -> None:
    job_id = _job_of(app, "alice")

    for method, path in [
        ("get", f"/jobs/{job_id}"),
        ("get", f"/jobs/{job_id}/events"),
        ("post", f"/jobs/{job_id}/cancel"),
    ]:
        response = getattr(client, method)(path, headers=bearer("bob"))
        assert response.status_code == 404, path
        assert response.get_json()["error"] == "not_found"
    assert client.get("/jobs/nope", headers=bearer("alice")).status_code == 404


def test_without_a_signed_in_user_the_api_answers_401(app: Flask, client: Any) -> None:
    response = client.get("/jobs/")

    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


def test_a_user_follows_their_job_to_its_result(app: Flask, client: Any) -> None:
    job_id = _job_of(app, "alice", sample.process_order, 8)
    wait_for_job(app, job_id)

    body = client.get(f"/jobs/{job_id}", headers=bearer("alice")).get_json()

    assert body["state"] == "succeeded"
    assert body["result"] == {"order_id": 8, "user": "alice"}
    assert "args" not in body  # operators see arguments through the CLI, users do not


def test_events_stream_progress_then_the_final_state(app: Flask, client: Any) -> None:
    job_id = _job_of(app, "alice", sample.count_progress, 200_000)

    response = client.get(f"/jobs/{job_id}/events", headers=bearer("alice"))
    events = [
        (block.split("\n")[0].removeprefix("event: "), json.loads(block.split("\n")[1][6:]))
        for block in response.get_data(as_text=True).strip().split("\n\n")
    ]

    assert response.mimetype == "text/event-stream"
    assert events[-1][0] == "succeeded"
    assert events[-1][1]["progress"]["done"] == 200_000
    assert all(name == "progress" for name, _ in events[:-1])


def test_cancel_through_the_api(app: Flask, client: Any) -> None:
    job_id = _job_of(app, "alice", sample.whoami, delay=60)

    first = client.post(f"/jobs/{job_id}/cancel", headers=bearer("alice"))
    again = client.post(f"/jobs/{job_id}/cancel", headers=bearer("alice"))

    assert first.status_code == 202
    assert first.get_json()["state"] == "cancelled"
    assert again.status_code == 409
    assert again.get_json()["error"] == "already_finished"
