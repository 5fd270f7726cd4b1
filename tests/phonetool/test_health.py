"""``/healthz`` and ``/readyz`` as a load balancer reads them, and every Flask-Handoff
setting reachable from the environment."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.conftest import free_port

from .conftest import AppFactory, MemberHandle, add_member
from .test_service import upload

# What is checked is the process's own state and its database's answer, not SQL.
pytestmark = pytest.mark.runs_on(database="sqlite")


def test_alive_needs_no_sign_in_and_no_database(client: FlaskClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "alive"}


def test_ready_names_each_check(client: FlaskClient) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ready",
        "checks": {"database": "ok", "jobs database": "ok", "workers": "ok", "disk": "ok"},
    }
    assert response.headers["Cache-Control"] == "no-store"


def test_too_little_disk_is_unready_with_retry_after(make_app: AppFactory) -> None:
    app = make_app(PHONETOOL_MIN_FREE_MB=1 << 40)

    response = app.test_client().get("/readyz")

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.get_json()["status"] == "unready"
    assert "MB needed" in response.get_json()["checks"]["disk"]


def test_a_broker_away_is_degraded_and_uploads_are_still_taken(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHONETOOL_JOB_BACKEND", "celery")
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nobody there
    app = make_app()
    member: MemberHandle = add_member(app, "alice@example.com")
    client = app.test_client()

    response = client.get("/readyz")
    accepted = upload(client, member)

    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "degraded"
    assert body["checks"]["broker"].startswith("unreachable")
    assert body["checks"]["publisher"] == "ok"
    assert accepted.status_code == 202


def test_every_handoff_setting_is_read_from_the_environment(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HANDOFF_CELERY_RESEND_AFTER", "15")
    monkeypatch.setenv("HANDOFF_EVENTS_MAX_STREAMS", "7")
    monkeypatch.setenv("HANDOFF_CELERY", '{"broker_pool_limit": 4}')
    monkeypatch.setenv("HANDOFF_REQUEST_ID_HEADER", "X-Trace")
    monkeypatch.setenv("HANDOFF_NOT_A_SETTING", "1")

    app = make_app()

    assert app.config["HANDOFF_CELERY_RESEND_AFTER"] == 15
    assert app.config["HANDOFF_EVENTS_MAX_STREAMS"] == 7
    assert app.config["HANDOFF_CELERY"] == {"broker_pool_limit": 4}
    assert app.config["HANDOFF_REQUEST_ID_HEADER"] == "X-Trace"
    assert "HANDOFF_NOT_A_SETTING" not in app.config


def test_metrics_are_served_only_with_their_own_token(make_app: AppFactory) -> None:
    from flask_handoff.testing import wait_for_job

    plain = make_app().test_client().get("/metrics")
    app = make_app(PHONETOOL_METRICS_TOKEN="scrape-me")
    client = app.test_client()
    member = add_member(app, "metrics@example.com")
    wait_for_job(app, upload(client, member).get_json()["job_id"], timeout=60)

    refused = client.get("/metrics", headers={"Authorization": "Bearer guess"})
    member_token = client.get("/metrics", headers=member.headers)
    scraped = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    text = scraped.get_data(as_text=True)

    assert plain.status_code == 404  # no token set: no such page
    assert (refused.status_code, member_token.status_code) == (401, 401)
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert scraped.status_code == 200
    assert 'handoff_jobs{state="succeeded",task="phonetool.jobs.process_upload"} 1.0' in text
    assert (
        'handoff_jobs_ended_total{state="succeeded",task="phonetool.jobs.process_upload"}' in text
    )
    assert 'handoff_up{part="workers"} 1.0' in text
