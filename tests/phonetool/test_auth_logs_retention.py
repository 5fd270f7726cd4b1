"""Web sign-in, log lines that name their request and job, and retention."""

from __future__ import annotations

import logging
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from flask_handoff.testing import wait_for_job
from phonetool.models import MemberOperationLog, Upload, db, utcnow

from .conftest import MemberHandle
from .test_service import trail, upload


def test_sign_in_with_password_then_upload_with_the_session(
    app: Flask, member: MemberHandle
) -> None:
    browser = app.test_client()
    wrong = browser.post("/api/session", json={"email": member.email, "password": "nope"})
    right = browser.post("/api/session", json={"email": member.email, "password": "correct horse"})

    assert wrong.status_code == 401
    assert wrong.get_json()["error"] == "bad_credentials"
    # An address with a NUL is no member's (was a 500 on PostgreSQL, found by schemathesis).
    nul = browser.post("/api/session", json={"email": "\x00a@example.com", "password": "x"})
    assert nul.status_code == 401
    assert right.status_code == 200
    assert "HttpOnly" in right.headers["Set-Cookie"]
    assert "SameSite=Lax" in right.headers["Set-Cookie"]
    assert browser.get("/api/session").get_json()["email"] == member.email
    import io

    response = browser.post(
        "/api/uploads", data={"file": (io.BytesIO(b"phone\n13812345678\n"), "a.csv")}
    )
    assert response.status_code == 202
    assert browser.delete("/api/session").status_code == 204
    assert browser.get("/api/jobs").status_code == 401


def test_log_lines_carry_request_and_job_ids(
    app: Flask, client: FlaskClient, member: MemberHandle, caplog: pytest.LogCaptureFixture
) -> None:
    from phonetool.logs import ContextFilter

    caplog.handler.addFilter(ContextFilter())
    caplog.set_level(logging.INFO)
    response = upload(client, member, data=b"a,b\n1,2\n", name="x.csv")
    job_id = response.get_json()["job_id"]
    wait_for_job(app, job_id)

    failed = [r for r in caplog.records if "failed" in r.getMessage() and r.name == "flask_handoff"]
    assert failed
    assert failed[0].job_id == job_id  # type: ignore[attr-defined]
    assert failed[0].request_id == response.headers["X-Request-Id"]  # type: ignore[attr-defined]


def test_cleanup_removes_old_results_and_log_entries_only(
    app: Flask, client: FlaskClient, member: MemberHandle
) -> None:
    old_id = upload(client, member).get_json()["job_id"]
    new_id = upload(client, member).get_json()["job_id"]
    wait_for_job(app, old_id)
    wait_for_job(app, new_id)
    with app.app_context():
        old = db.session.get(Upload, old_id)
        old.created_at = utcnow() - timedelta(days=40)
        result_dir = Path(old.result_dir)
        db.session.execute(
            db.update(MemberOperationLog)
            .where(MemberOperationLog.job_id == old_id)
            .values(operation_time=utcnow() - timedelta(days=400))
        )
        db.session.commit()
    time.sleep(0.01)

    out = app.test_cli_runner().invoke(args=["cleanup"])
    purged = app.test_cli_runner().invoke(args=["cleanup", "--result-days", "0"])

    assert "removed 1 result(s), 0 finished job(s)" in out.output, out.output
    assert "finished job(s)" in purged.output
    listed = client.get("/api/jobs", headers=member.headers).get_json()["jobs"]
    assert {j["state"] for j in listed} == {"expired"}  # job records purged, uploads kept
    assert not result_dir.exists()
    assert client.get(f"/api/jobs/{old_id}/result", headers=member.headers).status_code == 410
    assert client.get(f"/api/jobs/{old_id}", headers=member.headers).get_json()["summary"]
    assert {e["job_id"] for e in trail(client, member)} == {new_id}
    assert os.path.isdir(app.config["PHONETOOL_RESULTS_DIR"])


def test_cleanup_runs_daily_as_a_periodic_job_with_no_cron(
    app: Flask, client: FlaskClient, member: MemberHandle
) -> None:
    job_id = upload(client, member).get_json()["job_id"]
    wait_for_job(app, job_id)
    with app.app_context():
        old = db.session.get(Upload, job_id)
        old.created_at = utcnow() - timedelta(days=40)
        result_dir = Path(old.result_dir)
        db.session.commit()
    state = app.extensions["handoff"]
    # The schedule has been seen (the app's own ticker saw it at start, or this does),
    # and a day passes: its 03:15 comes, on a clock the test holds.
    state.store.schedule_seen("cleanup", 0.0)
    state.scheduler.tick(time.time() + 86_400)

    with app.app_context():
        runs = [j for j in state.ext.list_jobs() if j.task == "phonetool.retention.daily_cleanup"]
    done = wait_for_job(app, runs[0].id, timeout=30)

    assert app.config["HANDOFF_SCHEDULE"]["cleanup"]["cron"] == "15 3 * * *"
    assert len(runs) == 1
    assert done.state == "succeeded"
    assert done.result["results"] == 1
    assert not result_dir.exists()


def test_a_job_id_with_a_nul_finds_no_log_entries(
    app: Flask, client: FlaskClient, member: MemberHandle
) -> None:
    """Was a 500 on PostgreSQL, which refuses NUL in a comparison (found by schemathesis)."""
    job_id = upload(client, member).get_json()["job_id"]
    wait_for_job(app, job_id)

    found = client.get(f"/api/operation-logs?job_id={job_id}%00", headers=member.headers)
    assert found.status_code == 200
    assert found.get_json()["entries"] == []
    assert client.get(f"/api/operation-logs?job_id={job_id}", headers=member.headers).get_json()[
        "entries"
    ]
