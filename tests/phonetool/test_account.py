"""A member keeps their account safe: a new password ends every other browser's session
(from the page's API or an operator's command), wrong passwords are counted by every
process alike, and every live API token is listed however many were revoked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from phonetool.auth import PasswordHashSettingError
from phonetool.models import ApiToken, Member, db, utcnow

from .conftest import AppFactory, MemberHandle, add_member
from .test_security import sign_in

NEW = "a much longer secret"


def _change(client: FlaskClient, current: str, new: str, **kw: object) -> object:
    body = {"current_password": current, "new_password": new}
    return client.put("/api/account/password", json=body, **kw)


def test_a_new_password_signs_out_every_other_browser(app: Flask, member: MemberHandle) -> None:
    mine, other = app.test_client(), app.test_client()
    assert sign_in(mine, member.email).status_code == 200
    assert sign_in(other, member.email).status_code == 200

    changed = _change(mine, "correct horse", NEW)

    assert changed.status_code == 200  # type: ignore[attr-defined]
    assert changed.get_json() == {"sessions_ended": 1}  # type: ignore[attr-defined]
    assert mine.get("/api/session").status_code == 200  # this browser stays signed in
    assert other.get("/api/session").status_code == 401
    assert sign_in(app.test_client(), member.email).status_code == 401  # the old one
    assert sign_in(app.test_client(), member.email, NEW).status_code == 200
    assert mine.get("/api/jobs", headers=member.headers).status_code == 200  # tokens stay
    log = mine.get("/api/operation-logs").get_json()["entries"]
    assert "password_changed" in [entry["operation_type"] for entry in log]


def test_a_password_is_changed_only_with_the_current_one_and_within_bounds(
    client: FlaskClient, member: MemberHandle
) -> None:
    wrong = _change(client, "not it", NEW, headers=member.headers)
    short = _change(client, "correct horse", "short", headers=member.headers)
    own_email = _change(client, "correct horse", member.email, headers=member.headers)
    malformed = client.put(
        "/api/account/password", json={"new_password": NEW}, headers=member.headers
    )

    assert wrong.status_code == 403  # type: ignore[attr-defined]
    assert wrong.get_json()["error"] == "wrong_password"  # type: ignore[attr-defined]
    assert short.status_code == 400  # type: ignore[attr-defined]
    assert "10 to 1000 characters" in short.get_json()["message"]  # type: ignore[attr-defined]
    assert own_email.status_code == 400  # type: ignore[attr-defined]
    assert malformed.status_code == 400
    assert sign_in(client, member.email).status_code == 200  # unchanged


def test_an_operator_sets_a_password_and_every_session_ends(
    app: Flask, member: MemberHandle
) -> None:
    browser = app.test_client()
    assert sign_in(browser, member.email).status_code == 200

    result = app.test_cli_runner().invoke(
        args=["users", "password", member.email, "--password", NEW]
    )
    short = app.test_cli_runner().invoke(
        args=["users", "password", member.email, "--password", "short"]
    )

    assert result.exit_code == 0, result.output
    assert "1 session(s) signed out" in result.output
    assert short.exit_code != 0
    assert "10 to 1000 characters" in short.output
    assert browser.get("/api/session").status_code == 401
    assert sign_in(app.test_client(), member.email, NEW).status_code == 200


def test_wrong_passwords_count_the_same_in_every_process(make_app: AppFactory) -> None:
    # Two apps on one database, as two gunicorn processes are.
    first, second = make_app(instance="shared"), make_app(instance="shared")
    alice = add_member(first, "alice@example.com")
    clients = [first.test_client(), second.test_client()]

    statuses = [sign_in(clients[i % 2], alice.email, f"guess{i}").status_code for i in range(10)]
    locked = [sign_in(c, alice.email).status_code for c in clients]

    assert statuses == [401] * 10
    assert locked == [429, 429]


def test_sign_in_needs_no_redis(make_app: AppFactory, monkeypatch: object) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # type: ignore[attr-defined]
    app = make_app()
    alice = add_member(app, "alice@example.com")
    client = app.test_client()

    assert sign_in(client, alice.email, "wrong").status_code == 401
    assert sign_in(client, alice.email).status_code == 200


def _revoked_tokens(app: Flask, member: MemberHandle, count: int, *, days_ago: int) -> None:
    with app.app_context():
        owner = db.session.get(Member, member.id)
        assert owner is not None
        for _ in range(count):
            row, _plain = ApiToken.issue(owner)
            row.revoked_at = utcnow() - timedelta(days=days_ago)
            db.session.add(row)
        db.session.commit()


def test_every_live_token_is_listed_first_however_many_were_revoked(
    app: Flask, client: FlaskClient, member: MemberHandle
) -> None:
    # The member's one live token is the oldest; 210 newer ones were revoked since.
    _revoked_tokens(app, member, 210, days_ago=1)

    first = client.get("/api/tokens", headers=member.headers).get_json()
    seen = list(first["tokens"])
    following = first["next"]
    while following:
        page = client.get(following, headers=member.headers).get_json()
        seen += page["tokens"]
        following = page["next"]
    bad = client.get("/api/tokens?per_page=0", headers=member.headers)

    assert first["total"] == 211
    assert first["tokens"][0]["revoked_at"] is None  # the live one, on the first page
    assert len(seen) == 211
    assert len({t["id"] for t in seen}) == 211
    assert bad.status_code == 400


def test_cleanup_deletes_tokens_spent_long_ago(
    app: Flask, client: FlaskClient, member: MemberHandle
) -> None:
    _revoked_tokens(app, member, 3, days_ago=40)
    _revoked_tokens(app, member, 2, days_ago=5)

    result = app.test_cli_runner().invoke(args=["cleanup"])
    listed = client.get("/api/tokens", headers=member.headers).get_json()

    assert result.exit_code == 0, result.output
    assert "3 spent token(s)" in result.output
    assert listed["total"] == 3  # the live one and the two revoked lately


@pytest.mark.runs_on(database="sqlite")
def test_passwords_are_hashed_with_scrypt_unless_set_and_older_hashes_still_sign_in(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PHONETOOL_PASSWORD_HASH")  # the tests' fast one (conftest.py)
    app = make_app()
    member = add_member(app, "alice@example.com")
    with app.app_context():
        assert db.session.get(Member, member.id).password_hash.startswith("scrypt:")

    # A faster method set later: new passwords use it, the scrypt one still signs in.
    app.config["PHONETOOL_PASSWORD_HASH"] = "pbkdf2:sha256:1000"
    newer = add_member(app, "bob@example.com")
    with app.app_context():
        assert db.session.get(Member, newer.id).password_hash.startswith("pbkdf2:sha256:1000$")
    assert sign_in(app.test_client(), member.email).status_code == 200
    assert sign_in(app.test_client(), newer.email).status_code == 200
    assert sign_in(app.test_client(), newer.email, "wrong").status_code == 401
    assert sign_in(app.test_client(), "nobody@example.com").status_code == 401


@pytest.mark.runs_on(database="sqlite")
def test_a_password_hash_setting_werkzeug_cannot_use_stops_the_start(
    make_app: AppFactory,
) -> None:
    with pytest.raises(PasswordHashSettingError, match="PHONETOOL_PASSWORD_HASH='md5'"):
        make_app(PHONETOOL_PASSWORD_HASH="md5")
