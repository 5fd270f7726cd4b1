"""Sign-in and the session cookie against other sites, guessing and copied cookies."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from phonetool import auth
from phonetool.models import ApiToken, db, utcnow

from .conftest import AppFactory, MemberHandle, add_member
from .test_service import GOOD


def sign_in(client: FlaskClient, email: str, password: str = "correct horse", **kw: Any) -> Any:
    return client.post("/api/session", json={"email": email, "password": password}, **kw)


def test_a_sign_in_form_posted_from_another_site_is_refused(
    client: FlaskClient, member: MemberHandle
) -> None:
    form = {"email": member.email, "password": "correct horse"}
    refused = client.post("/api/session", data=form, headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "cross_origin"
    assert client.get("/api/session").status_code == 401  # not signed in

    ours = client.post("/api/session", data=form, headers={"Origin": "http://localhost"})
    assert ours.status_code == 200


def test_an_upload_from_another_site_riding_the_cookie_is_refused_a_token_is_not(
    client: FlaskClient, member: MemberHandle
) -> None:
    sign_in(client, member.email)
    other_site = {"Referer": "https://evil.example/page"}

    def send(headers: dict[str, str]) -> Any:
        return client.post(
            "/api/uploads", data={"file": (io.BytesIO(GOOD), "x.csv")}, headers=headers
        )

    riding = send(other_site)
    with_token = send({**other_site, **member.headers})

    assert riding.status_code == 403
    assert with_token.status_code == 202
    jobs = client.get("/api/jobs").get_json()["jobs"]
    assert len(jobs) == 1


def test_a_cookie_kept_from_before_sign_out_is_worth_nothing(
    client: FlaskClient, member: MemberHandle
) -> None:
    sign_in(client, member.email)
    cookie = client.get_cookie("session")
    assert cookie is not None
    assert client.get("/api/session").status_code == 200

    assert client.delete("/api/session").status_code == 204
    client.set_cookie("session", cookie.value)  # the copy an attacker kept

    response = client.get("/api/session")
    assert response.status_code == 401
    assert "session has ended" in response.get_json()["message"]


def test_an_unknown_email_costs_a_password_check_like_a_known_one(
    client: FlaskClient, member: MemberHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    real = auth.check_password_hash

    def counting(pwhash: str, password: str) -> bool:
        checked.append(password)
        return real(pwhash, password)

    monkeypatch.setattr(auth, "check_password_hash", counting)

    assert sign_in(client, "nobody@example.com", "guess").status_code == 401
    assert checked == ["guess"]


def test_wrong_passwords_are_limited_per_account_and_per_address(
    make_app: AppFactory,
) -> None:
    app = make_app()
    client = app.test_client()
    alice = add_member(app, "alice@example.com")
    add_member(app, "bob@example.com")

    def attempt(email: str, password: str, address: str) -> Any:
        return sign_in(client, email, password, environ_base={"REMOTE_ADDR": address})

    statuses = [attempt(alice.email, f"guess{i}", f"10.0.0.{i}").status_code for i in range(10)]
    assert statuses == [401] * 10
    locked = attempt(alice.email, "correct horse", "10.0.1.1")  # even the right one, now
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert locked.get_json()["error"] == "too_many_requests"
    assert attempt("bob@example.com", "correct horse", "10.0.1.1").status_code == 200

    one_address = [attempt(f"x{i}@example.com", "guess", "10.0.2.2").status_code for i in range(30)]
    assert one_address == [401] * 30
    assert attempt("bob@example.com", "correct horse", "10.0.2.2").status_code == 429


def test_pages_and_api_answers_carry_protective_headers(client: FlaskClient) -> None:
    for path in ("/", "/api/jobs"):
        headers = client.get(path).headers
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"


def test_the_cookie_is_secure_when_the_service_is_served_over_https(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHONETOOL_BASE_URL", "https://phones.example")
    app: Flask = make_app()
    member = add_member(app, "alice@example.com")
    client = app.test_client()

    response = sign_in(client, member.email, base_url="https://phones.example")

    assert response.status_code == 200
    assert "Secure" in response.headers["Set-Cookie"]


def _expire_all_tokens(app: Flask) -> None:
    with app.app_context():
        db.session.execute(db.update(ApiToken).values(expires_at=utcnow() - timedelta(minutes=1)))
        db.session.commit()


def test_a_token_issued_for_some_days_stops_working_when_they_are_over(
    app: Flask, client: FlaskClient, member: MemberHandle
) -> None:
    plain = app.test_cli_runner().invoke(args=["users", "token", member.email, "--days", "7"])
    headers = {"Authorization": f"Bearer {plain.output.strip()}"}
    assert client.get("/api/jobs", headers=headers).status_code == 200

    _expire_all_tokens(app)

    response = client.get("/api/jobs", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == "expired_token"


def test_a_browser_session_ends_when_its_hours_are_over(
    app: Flask, client: FlaskClient, member: MemberHandle
) -> None:
    sign_in(client, member.email)
    assert client.get("/api/session").status_code == 200

    _expire_all_tokens(app)

    assert client.get("/api/session").status_code == 401
