"""A full service answers 429 or 503 with Retry-After and a reason, never 500."""

from __future__ import annotations

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
