"""``flask --app phonetool users ...``."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient


def test_create_then_token_then_use_it(app: Flask, client: FlaskClient) -> None:
    runner = app.test_cli_runner()
    created = runner.invoke(
        args=["users", "create", "--email", "Carol@Example.com", "--password", "pw"]
    )
    token = runner.invoke(args=["users", "token", "carol@example.com"]).output.strip()

    assert "member 1 created: carol@example.com" in created.output
    assert token.startswith("pt_")
    response = client.get("/api/jobs", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_create_with_token_gives_a_token_that_signs_in(app: Flask, client: FlaskClient) -> None:
    created = app.test_cli_runner().invoke(
        args=["users", "create", "--email", "dan@example.com", "--password", "pw", "--token"]
    )
    token = created.output.splitlines()[-1]

    assert created.exit_code == 0, created.output
    assert token.startswith("pt_")
    response = client.get("/api/session", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json["email"] == "dan@example.com"


def test_bootstrap_creates_a_first_member_once(app: Flask) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["users", "bootstrap"])
    second = runner.invoke(args=["users", "bootstrap"])

    assert "API token (shown once): pt_" in first.output
    assert "Members exist" in second.output


def test_token_for_unknown_member_is_a_clear_error(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["users", "token", "nobody@example.com"])

    assert result.exit_code != 0
    assert "No member nobody@example.com" in result.output
