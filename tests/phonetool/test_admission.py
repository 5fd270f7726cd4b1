"""A full service answers 429 or 503 with Retry-After and a reason, never 500."""

from __future__ import annotations

import math

from flask_handoff.testing import wait_for_job
from phonetool.extensions import handoff
from phonetool.jobs import process_upload
from phonetool.models import db

from .conftest import AppFactory, add_member
from .test_service import upload


def _refused(response: object, status: int, error: str) -> None:
    assert response.status_code == status  # type: ignore[attr-defined]
    assert response.get_json()["error"] == error  # type: ignore[attr-defined]
    assert int(response.headers["Retry-After"]) > 0  # type: ignore[attr-defined]


def test_a_member_with_too_many_waiting_uploads_gets_429_others_do_not(
    make_app: AppFactory,
) -> None:
    app = make_app(HANDOFF_AUTOSTART=False, PHONETOOL_MAX_ACTIVE_PER_MEMBER=2)
    client = app.test_client()
    alice, bob = add_member(app, "alice@example.com"), add_member(app, "bob@example.com")

    assert [upload(client, alice).status_code for _ in range(2)] == [202, 202]
    refused = upload(client, alice)

    _refused(refused, 429, "too_many_uploads")
    assert "2 uploads waiting" in refused.get_json()["message"]
    assert upload(client, bob).status_code == 202


def test_a_service_full_of_uploads_gets_503(make_app: AppFactory) -> None:
    app = make_app(HANDOFF_AUTOSTART=False, PHONETOOL_MAX_ACTIVE=3)
    client = app.test_client()
    members = [add_member(app, f"m{i}@example.com") for i in range(4)]

    assert [upload(client, m).status_code for m in members[:3]] == [202] * 3
    _refused(upload(client, members[3]), 503, "busy")


def test_too_little_disk_for_the_spool_gets_503(make_app: AppFactory) -> None:
    app = make_app(PHONETOOL_MIN_FREE_MB=1 << 40)
    member = add_member(app, "alice@example.com")

    _refused(upload(app.test_client(), member), 503, "disk_full")


def test_a_database_too_busy_to_give_a_connection_gets_503(make_app: AppFactory) -> None:
    options = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 0.2}
    app = make_app(SQLALCHEMY_ENGINE_OPTIONS=options)
    member = add_member(app, "alice@example.com")
    client = app.test_client()

    with app.app_context(), db.engine.connect():  # the pool's one connection, held
        response = client.get("/api/jobs", headers=member.headers)

    _refused(response, 503, "busy")
    assert client.get("/api/jobs", headers=member.headers).status_code == 200


def test_retry_after_follows_the_queue_ahead_and_the_rate_jobs_end(make_app: AppFactory) -> None:
    # One process ran six uploads to the end and stopped: jobs end at a known rate.
    worker = make_app(instance="shared")
    runner = add_member(worker, "runner@example.com")
    ran = [upload(worker.test_client(), runner).get_json()["job_id"] for _ in range(6)]
    for job_id in ran:
        wait_for_job(worker, job_id, timeout=60)
    handoff.shutdown(worker, timeout=5)
    # A web process with no pool beside it: what it admits stays queued.
    app = make_app(instance="shared", HANDOFF_AUTOSTART=False, PHONETOOL_MAX_ACTIVE_PER_MEMBER=2)
    client = app.test_client()
    alice, bob, carol = (add_member(app, f"{n}@example.com") for n in ("alice", "bob", "carol"))

    for member in (bob, alice, carol):  # queued in this order, two each
        assert [upload(client, member).status_code for _ in range(2)] == [202, 202]
    with app.app_context():
        rate = handoff.throughput(task=process_upload.name)
    alice_refused, carol_refused = upload(client, alice), upload(client, carol)

    _refused(alice_refused, 429, "too_many_uploads")
    _refused(carol_refused, 429, "too_many_uploads")
    assert rate is not None
    # Alice's first upload has bob's two ahead of it: three jobs to end at the rate seen.
    alice_wait = int(alice_refused.headers["Retry-After"])
    assert abs(alice_wait - max(1, math.ceil(3 / rate))) <= 1
    # Carol's has four ahead: she is told to wait at least as long.
    assert int(carol_refused.headers["Retry-After"]) >= alice_wait


def test_retry_after_is_a_short_probe_when_no_job_ended_lately(make_app: AppFactory) -> None:
    app = make_app(HANDOFF_AUTOSTART=False, PHONETOOL_MAX_ACTIVE_PER_MEMBER=1)
    client = app.test_client()
    alice = add_member(app, "alice@example.com")

    assert upload(client, alice).status_code == 202
    refused = upload(client, alice)

    _refused(refused, 429, "too_many_uploads")
    assert refused.headers["Retry-After"] == "5"
