"""A member stops their own job: waiting ones at once, running ones at the next
progress report (the pipeline's process is killed), and the log says who did it."""

from __future__ import annotations

import time
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from flask_handoff.testing import wait_for_job

from .conftest import AppFactory, MemberHandle, add_member
from .test_service import trail, upload, wait_for_trail

BIG = ("手机号\n" + "".join(f"138{i:08d}\n" for i in range(300_000))).encode()


def test_a_waiting_job_is_cancelled_at_once_and_the_log_names_the_member(
    make_app: AppFactory,
) -> None:
    app = make_app(HANDOFF_AUTOSTART=False)
    client = app.test_client()
    alice = add_member(app, "alice@example.com")
    job_id = upload(client, alice).get_json()["job_id"]

    response = client.post(f"/api/jobs/{job_id}/cancel", headers=alice.headers)

    assert response.status_code == 202
    assert response.get_json()["state"] == "cancelled"
    entries = trail(client, alice)
    cancel = next(e for e in entries if e["operation_type"] == "cancel_requested")
    assert (cancel["user_id"], cancel["actor_kind"], cancel["job_id"]) == (
        str(alice.id),
        "user",
        job_id,
    )


def test_nobody_cancels_another_members_job_and_an_ended_job_stays_as_it_ended(
    app: Flask, client: FlaskClient, member: MemberHandle, other_member: MemberHandle
) -> None:
    job_id = upload(client, member).get_json()["job_id"]

    assert (
        client.post(f"/api/jobs/{job_id}/cancel", headers=other_member.headers).status_code == 404
    )
    assert wait_for_job(app, job_id).state == "succeeded"
    ended = client.post(f"/api/jobs/{job_id}/cancel", headers=member.headers)
    assert ended.status_code == 409
    assert ended.get_json()["error"] == "already_ended"


def test_a_running_job_stops_and_leaves_no_result(
    app: Flask, client: FlaskClient, member: MemberHandle
) -> None:
    job_id = upload(client, member, data=BIG, name="big.csv").get_json()["job_id"]
    while True:  # until the pipeline reports rows done
        status = client.get(f"/api/jobs/{job_id}", headers=member.headers).get_json()
        if status["state"] == "running" and status["progress"]["done"]:
            break
        assert status["state"] in ("queued", "running"), status
        time.sleep(0.02)

    asked = client.post(f"/api/jobs/{job_id}/cancel", headers=member.headers)
    job = wait_for_job(app, job_id)

    assert asked.status_code == 202
    assert job.state == "cancelled"
    assert job.progress_done < 300_000  # it stopped part-way
    assert not (Path(app.config["PHONETOOL_RESULTS_DIR"]) / job_id).exists()
    entries = wait_for_trail(client, member, "process_cancelled", "upload_deleted")
    kinds = [e["operation_type"] for e in entries]
    assert kinds[-3:] == ["cancel_requested", "process_cancelled", "upload_deleted"]
